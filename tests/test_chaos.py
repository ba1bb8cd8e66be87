"""ChaosExperiment and ImmunityTest: the Chaos Mesh webhook rules, the claims the schemas make
("a test checks"), the guardrails that depend on the platform settings, and the Workflow a
verify step becomes. Table-driven: each case says why it must hold."""

from __future__ import annotations

import re
from typing import Any, Iterator, NamedTuple

import pytest
import yaml

import harness
from harness import promise_document
from pipelines.chaosexperiment import PROMISE as CHAOS_EXPERIMENT
from pipelines.chaosexperiment import chaos_mesh, guardrails
from pipelines.immunitytest import PROMISE as IMMUNITY_TEST
from pipelines.immunitytest import workflow
from promisekit import checks, schema
from promisekit import settings as platform_settings
from promisekit.checks._cel import rule_failures
from promisekit.checks._chaos_webhook import _CRON_FIELDS, cron_error, webhook_violations
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.promise import Definition, parse_request
from promisekit.yamlio import load_one

SETTINGS = platform_settings.load_file()
Obj = dict[str, Any]


# --- (a) every rule of the Chaos Mesh admission webhook, one object it refuses ---------------------

SELECTOR = {"namespaces": ["chat"], "labelSelectors": {"app": "synapse"}}


def pod_chaos(**spec: Any) -> Obj:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos", "metadata": {"name": "kill"},
            "spec": {"action": "pod-kill", "mode": "one", "selector": SELECTOR, **spec}}


def chaos(kind: str, **spec: Any) -> Obj:
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": kind, "metadata": {"name": "c"}, "spec": {"mode": "one", "selector": SELECTOR, **spec}}


def schedule(name: str = "nightly", **spec: Any) -> Obj:
    body = {"schedule": "0 3 * * *", "type": "PodChaos", "podChaos": {"action": "pod-kill", "mode": "one", "selector": SELECTOR}, **spec}
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "Schedule", "metadata": {"name": name}, "spec": body}


def flow(*templates: Obj, entry: str = "entry") -> Obj:
    """A Workflow whose Serial entry runs the templates given."""
    serial = {"name": "entry", "templateType": "Serial", "deadline": "5m", "children": [t["name"] for t in templates if isinstance(t.get("name"), str)]}
    return {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": {"entry": entry, "templates": [serial, *templates]}}


def check(**fields: Any) -> Obj:
    """A Workflow with one StatusCheck template whose statusCheck has these fields over a valid one."""
    body = {"mode": "Synchronous", "type": "HTTP", "http": {"url": "http://web.chat.svc/health", "method": "GET", "criteria": {"statusCode": "200"}}, **fields}
    return flow({"name": "probe", "templateType": "StatusCheck", "deadline": "1m", "statusCheck": body})


def task(**fields: Any) -> Obj:
    return {"name": "probe", "templateType": "Task", "deadline": "1m", "task": {"container": {"name": "c", "image": "busybox:1.37"}}, **fields}


class Refused(NamedTuple):
    id: str
    reason: str
    obj: Obj
    finding: str  # the finding of the rule under test
    also: tuple[str, ...] = ()  # findings the same object cannot help triggering, reported first


REFUSED = [
    Refused("schedule-name", "a Schedule names its runs <name>-<unix time>: more than 57 characters overflow", schedule("s" * 58),
            "$.metadata.name: a Schedule name must be at most 57 characters (got 58)"),
    Refused("workflow-schedule-name", "a Workflow run's nodes need six more characters: 51 for type Workflow",
            schedule("w" * 52, type="Workflow", workflow=flow(task())["spec"], podChaos=None),
            "$.metadata.name: a Schedule of type Workflow name must be at most 51 characters (got 52)"),
    Refused("cron-empty", "robfig/cron refuses an empty spec", schedule(schedule=""), "$.spec.schedule: parse schedule field error: empty spec string"),
    Refused("cron-location", "a TZ= prefix needs a location", schedule(schedule="TZ= 0 3 * * *"), "$.spec.schedule: parse schedule field error: provided bad location 'TZ='"),
    Refused("cron-every", "@every takes a Go duration", schedule(schedule="@every 1 day"), "$.spec.schedule: parse schedule field error: failed to parse duration @every 1 day"),
    Refused("cron-descriptor", "only robfig's descriptors", schedule(schedule="@fortnightly"), "$.spec.schedule: parse schedule field error: unrecognized descriptor: @fortnightly"),
    Refused("cron-fields", "the standard parser takes exactly five fields", schedule(schedule="0 0 3 * * *"),
            "$.spec.schedule: parse schedule field error: expected exactly 5 fields, found 6: 0 0 3 * * *"),
    Refused("cron-slashes", "one step per range", schedule(schedule="0/5/2 3 * * *"), "$.spec.schedule: parse schedule field error: minute '0/5/2': too many slashes"),
    Refused("cron-hyphens", "a range has two ends", schedule(schedule="1-2-3 3 * * *"), "$.spec.schedule: parse schedule field error: minute '1-2-3': too many hyphens"),
    Refused("cron-word", "numbers or month and day names only", schedule(schedule="x 3 * * *"), "$.spec.schedule: parse schedule field error: minute 'x': not a number or a name"),
    Refused("cron-step", "a step is positive", schedule(schedule="*/0 3 * * *"), "$.spec.schedule: parse schedule field error: minute '*/0': step of range should be a positive number"),
    Refused("cron-below", "a day of the month starts at 1", schedule(schedule="0 3 0 * *"), "$.spec.schedule: parse schedule field error: day of month '0': beginning of range (0) below minimum (1)"),
    Refused("cron-above", "hours end at 23", schedule(schedule="0 24 * * *"), "$.spec.schedule: parse schedule field error: hour '24': end of range (24) above maximum (23)"),
    Refused("cron-backwards", "a range runs upwards", schedule(schedule="0 3 * * 5-1"), "$.spec.schedule: parse schedule field error: day of week '5-1': beginning of range (5) beyond end of range (1)"),
    Refused("workflow-every", "a Schedule of type Workflow never fires with @every (chaos-mesh#4624)",
            schedule(schedule="@every 1h", type="Workflow", workflow=flow(task())["spec"], podChaos=None),
            "$.spec.schedule: @every never fires for a Schedule of type Workflow (chaos-mesh#4624); use a cron expression"),
    Refused("workflow-missing", "type Workflow embeds its workflow", schedule(type="Workflow", podChaos=None), "$.spec.workflow: required for type Workflow"),
    Refused("schedule-type", "a Schedule repeats a chaos kind or a Workflow", schedule(type="Pod"), "$.spec.type: unrecognized type 'Pod': must be a chaos kind or Workflow"),
    Refused("schedule-embedded", "the type names the key holding the spec", schedule(type="NetworkChaos"), "$.spec.networkChaos: required for type NetworkChaos"),
    Refused("entry-required", "a Workflow starts at its entry", {**flow(task()), "spec": {**flow(task())["spec"], "entry": ""}}, "$.spec.entry: the entry of workflow is required"),
    Refused("entry-exists", "the entry names a template", flow(task(), entry="start"), "$.spec.entry: can not find a template with name start"),
    Refused("templates-empty", "a Workflow has templates", {"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": {"entry": "entry", "templates": []}},
            "$.spec.templates: templates in workflow could not be empty", also=("$.spec.entry: can not find a template with name entry",)),
    Refused("templates-unique", "template names are unique", flow(task(), task()), "$.spec.templates: template name must be unique, duplicated names: ['probe']"),
    Refused("name-required", "every template has a name", flow({"templateType": "Suspend", "deadline": "1m"}), "$.spec.templates[1].name: name of template is required"),
    Refused("name-dns", "template names are DNS-1123 subdomains", flow({"name": "Pause_1", "templateType": "Suspend", "deadline": "1m"}),
            "$.spec.templates[1].name: field name must be DNS-1123 subdomain (got 'Pause_1')"),
    Refused("template-type", "the webhook knows every template type", flow({"name": "wait", "templateType": "Sleep", "deadline": "1m"}), "$.spec.templates[1].templateType: unrecognized template type: Sleep"),
    Refused("deadline-go", "deadlines are Go durations", flow({"name": "wait", "templateType": "Suspend", "deadline": "1 minute"}),
            "$.spec.templates[1].deadline: must be a Go duration such as 30s or 5m (got '1 minute')"),
    Refused("template-parts", "a Suspend carries nothing but its deadline", flow({"name": "wait", "templateType": "Suspend", "deadline": "1m", "children": ["entry"]}),
            "$.spec.templates[1].children: a Suspend template should not contain children"),
    Refused("chaos-required", "a chaos template carries its chaos", flow({"name": "kill", "templateType": "PodChaos", "deadline": "1m"}),
            "$.spec.templates[1].podChaos: the value of chaos PodChaos is required"),
    Refused("kill-deadline", "a pod-kill node without a deadline never completes (chaos-mesh#4539)",
            flow({"name": "kill", "templateType": "PodChaos", "podChaos": {"action": "pod-kill", "mode": "one", "selector": SELECTOR}}),
            "$.spec.templates[1].deadline: required: without it the node never completes and the workflow stops here (chaos-mesh#4539)"),
    Refused("flow-chaos", "only a chaos template carries chaos", flow({"name": "wait", "templateType": "Suspend", "deadline": "1m", "podChaos": {"action": "pod-kill"}}),
            "$.spec.templates[1].podChaos: a Suspend template should not contain any chaos"),
    Refused("suspend-deadline", "a Suspend waits for its deadline, so it needs one", flow({"name": "wait", "templateType": "Suspend"}),
            "$.spec.templates[1].deadline: deadline in template with type Suspend could not be empty"),
    Refused("children-exist", "a Serial's children are templates", flow({"name": "group", "templateType": "Parallel", "deadline": "1m", "children": ["ghost"]}),
            "$.spec.templates[1].children[0]: can not find a template with name ghost"),
    Refused("branch-target", "a Task's branch runs a template that exists", flow(task(conditionalBranches=[{"target": "ghost", "expression": "exitCode == 0"}])),
            "$.spec.templates[1].conditionalBranches[0].target: can not find a template with name ghost"),
    Refused("schedule-template", "a Schedule template carries its schedule", flow({"name": "repeat", "templateType": "Schedule", "deadline": "1m"}),
            "$.spec.templates[1].schedule: required for a Schedule template"),
    Refused("schedule-no-workflow", "a Schedule template cannot schedule a Workflow (no nested workflows)",
            flow({"name": "repeat", "templateType": "Schedule", "deadline": "1m", "schedule": {"schedule": "@hourly", "type": "Workflow"}}),
            "$.spec.templates[1].schedule.type: unrecognized type 'Workflow': must be a chaos kind (a Schedule template cannot schedule a Workflow)"),
    Refused("status-check-required", "a StatusCheck template carries its check", flow({"name": "probe", "templateType": "StatusCheck", "deadline": "1m"}),
            "$.spec.templates[1].statusCheck: required for a StatusCheck template"),
    Refused("status-check-type", "only HTTP checks exist", check(type="TCP"), "$.spec.templates[1].statusCheck.type: unrecognized type: TCP"),
    Refused("status-check-http", "an HTTP check has its request", check(http=None), "$.spec.templates[1].statusCheck.http: the detail of http status check is required"),
    Refused("status-check-url", "the URL parses as a request URI", check(http={"url": "web/health", "criteria": {"statusCode": "200"}}),
            "$.spec.templates[1].statusCheck.http.url: invalid http request url 'web/health' (not absolute)"),
    Refused("status-check-code", "a status code or an inclusive range", check(http={"url": "http://web/", "criteria": {"statusCode": "2xx"}}),
            "$.spec.templates[1].statusCheck.http.criteria.statusCode: incorrect status code format: '2xx' is not a code (1-999) or an inclusive range such as 200-399"),
    Refused("status-check-history", "the failures in a row are counted among the kept records, so more than it keeps never complete the check",
            check(failureThreshold=150), "$.spec.templates[1].statusCheck.failureThreshold: 150 results in a row can never be counted among the 100 records kept (recordsHistoryLimit)"),
    Refused("workflow-duration", "inside a Workflow the deadline rules, never a chaos duration",
            flow({"name": "kill", "templateType": "PodChaos", "deadline": "1m", "podChaos": {"action": "pod-kill", "mode": "one", "selector": SELECTOR, "duration": "1m"}}),
            "$.spec.templates[1].podChaos.duration: should not define duration in chaos when using Workflow, use Template#Deadline instead"),
    Refused("duration-go", "a chaos duration is a Go duration", pod_chaos(duration="1 minute"), "$.spec.duration: parse duration field error: '1 minute' is not a Go duration"),
    Refused("fixed-integer", "mode fixed counts pods", pod_chaos(mode="fixed", value="two"), "$.spec.value: parse value field error: 'two' is not an integer (mode fixed)"),
    Refused("fixed-positive", "mode fixed takes at least one pod", pod_chaos(mode="fixed", value="0"), "$.spec.value: value must be greater than 0 with mode:fixed"),
    Refused("percent-integer", "fixed-percent is a whole percentage", pod_chaos(mode="fixed-percent", value="half"), "$.spec.value: parse value field error: 'half' is not an integer (mode fixed-percent)"),
    Refused("percent-range", "a percentage is in (0, 100]", pod_chaos(mode="fixed-percent", value="101"), "$.spec.value: value of 101 is invalid, Must be (0,100] with mode:fixed-percent"),
    Refused("container-kill", "container-kill names its containers", pod_chaos(action="container-kill"), "$.spec.containerNames: the name of container should not be empty on container-kill action"),
    Refused("delay-latency", "latency is a Go duration", chaos("NetworkChaos", action="delay", delay={"latency": "100 ms"}), "$.spec.delay.latency: parse latency field error: '100 ms' is not a Go duration"),
    Refused("delay-correlation", "correlation is a number in a string", chaos("NetworkChaos", action="delay", delay={"latency": "1s", "correlation": "high"}),
            "$.spec.delay.correlation: parse correlation field error: 'high' is not a number"),
    Refused("loss-number", "the loss percentage is a number in a string", chaos("NetworkChaos", action="loss", loss={"loss": 10}), "$.spec.loss.loss: parse loss field error: 10 is not a number"),
    Refused("bandwidth-unit", "a rate carries its unit", chaos("NetworkChaos", action="bandwidth", bandwidth={"rate": "1mb", "limit": 1, "buffer": 1}),
            "$.spec.bandwidth.rate: parse rate field error: '1mb' needs one of the units tbps, gbps, mbps, kbps, bps"),
    Refused("peer-value", "the peer side's mode and value follow the same rules",
            chaos("NetworkChaos", action="delay", delay={"latency": "1s"}, target={"mode": "fixed", "value": "0", "selector": SELECTOR}), "$.spec.target.value: value must be greater than 0 with mode:fixed"),
    Refused("external-direction", "external targets only take direction to",
            chaos("NetworkChaos", action="delay", delay={"latency": "1s"}, direction="both", externalTargets=["1.1.1.1"], target={"mode": "all", "selector": SELECTOR}),
            "$.spec.direction: external targets cannot be used with `from` and `both` direction in netem action yet"),
    Refused("direction-target", "from and both need the other side", chaos("NetworkChaos", action="delay", delay={"latency": "1s"}, direction="from"),
            "$.spec.direction: `from` and `both` direction cannot be used when targets is empty in netem action"),
    Refused("io-delay", "io latency is a Go duration", chaos("IOChaos", action="latency", volumePath="/data", delay="1 ms"), "$.spec.delay: parse delay field error: '1 ms' is not a Go duration, for action:latency"),
    Refused("io-errno", "an io fault returns an error number", chaos("IOChaos", action="fault", volumePath="/data", errno=0), "$.spec.errno: action fault: errno 0 is not supported"),
    Refused("io-percent", "a share of operations is 0-100", chaos("IOChaos", action="latency", volumePath="/data", delay="1ms", percent=150), "$.spec.percent: percent field should be in 0-100"),
    Refused("stress-missing", "a StressChaos stresses something", chaos("StressChaos"), "$.spec: missing stressors"),
    Refused("stress-kind", "cpu or memory", chaos("StressChaos", stressors={"io": {"workers": 1}}), "$.spec.stressors: missing stressors"),
    Refused("stress-size", "memory sizes are bytes or a percentage", chaos("StressChaos", stressors={"memory": {"workers": 1, "size": "lots"}}),
            "$.spec.stressors.memory.size: incorrect bytes format: 'lots' (a size such as 256MB, or a percentage such as 50%)"),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_webhook_refuses(case: Refused) -> None:
    assert webhook_violations(case.obj) == [*case.also, case.finding], case.reason


@pytest.mark.parametrize("obj", [schedule(), flow(task()), check(), pod_chaos(mode="fixed-percent", value="100")], ids=["schedule", "workflow", "status-check", "pod-chaos"])
def test_webhook_admits_the_bases_the_refused_cases_start_from(obj: Obj) -> None:
    assert webhook_violations(obj) == []


# --- (b) and (c): what the schemas claim a test checks ----------------------------------------------


def api_schema(name: str) -> Obj:
    return schema.load_api(name).schema["properties"]["spec"]


def walk(node: Any, path: str = "spec") -> Iterator[tuple[str, Obj]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in node.get("properties", {}).items():
            yield from walk(child, f"{path}.{key}")
        if "items" in node:
            yield from walk(node["items"], f"{path}[]")


def protected_lists() -> list[tuple[str, list[str]]]:
    found = []
    for name in ("chaosexperiment", "immunitytest"):
        for path, node in walk(api_schema(name)):
            for rule in node.get("x-kubernetes-validations", []):
                if "guardrail protected-namespace" in rule["message"]:
                    found.append((f"{name} {path}", re.findall(r"'([a-z0-9-]+)'", rule["rule"].partition(" in ")[2])))
    return found


def test_every_target_and_peer_has_the_protected_namespace_rule() -> None:
    """ChaosExperiment's target and peer, ImmunityTest's target and each step's target and peer."""
    assert [where for where, _ in protected_lists()] == [
        "chaosexperiment spec.target", "chaosexperiment spec.peer",
        "immunitytest spec.target", "immunitytest spec.steps[].target", "immunitytest spec.steps[].peer",
    ]


@pytest.mark.parametrize(("where", "listed"), protected_lists(), ids=lambda v: v if isinstance(v, str) else None)
def test_cel_protected_namespaces_are_the_core_list(where: str, listed: list[str]) -> None:
    assert listed == list(guardrails.CORE_PROTECTED), f"{where}: the CEL list and guardrails.CORE_PROTECTED must be the same"


def shared_fields() -> list[tuple[str, Any, Any]]:
    """(what, ChaosExperiment's, ImmunityTest's) for every field the schema headers say the two share."""
    chaos, immunity = api_schema("chaosexperiment")["properties"], api_schema("immunitytest")["properties"]
    step = immunity["steps"]["items"]["properties"]
    pairs = [(field, chaos[field], step[field]) for field in ("peer", "network", "io", "stress")]
    # A step's target defaults from spec.target: only its description and default differ.
    pairs += [(f"target {part}", chaos["target"][part], step["target"][part]) for part in ("properties", "x-kubernetes-validations")]
    pairs += [(f"spec.target {part}", chaos["target"]["properties"][part], immunity["target"]["properties"][part]) for part in ("namespace", "selector")]
    pairs.append(("spec.target protected-namespace rule", chaos["target"]["x-kubernetes-validations"][-1], immunity["target"]["x-kubernetes-validations"][0]))
    pairs.append(("schedule pattern and range rule", {k: chaos["schedule"][k] for k in ("pattern", "x-kubernetes-validations")},
                  {k: immunity["schedule"][k] for k in ("pattern", "x-kubernetes-validations")}))
    return pairs


@pytest.mark.parametrize(("what", "chaos", "immunity"), shared_fields(), ids=lambda v: v if isinstance(v, str) else None)
def test_shared_fields_are_identical(what: str, chaos: Any, immunity: Any) -> None:
    assert chaos == immunity, f"{what} differs between the ChaosExperiment and ImmunityTest schemas"


SCHEDULE = api_schema("chaosexperiment")["properties"]["schedule"]


def admits_schedule(cron: str) -> tuple[bool, bool]:
    """(API server, pipeline): the pattern, then the CEL range rule or the pipeline's own range check."""
    try:
        schema.validate(SCHEDULE, cron, "spec.schedule")
    except RequestInvalid:
        return False, False
    try:
        guardrails.check_schedule(cron, "spec.schedule")
    except RequestInvalid:
        pipeline = False
    else:
        pipeline = True
    return not list(rule_failures(SCHEDULE["x-kubernetes-validations"], cron)), pipeline


def cron_cases() -> Iterator[str]:
    """Every range a-b of every field, with and without a step, in an otherwise fixed schedule."""
    for index, (_, low, high, _) in enumerate(_CRON_FIELDS):
        for first in range(low, high + 1):
            for last in range(low, high + 1):
                fields = ["0", "3", "*", "*", "*"]
                fields[index] = f"{first}-{last}" + ("/2" if (first + last) % 2 else "")
                yield " ".join(fields)


def test_schema_and_pipeline_admit_exactly_the_ranges_robfig_cron_parses() -> None:
    """The API server (pattern and CEL) and the pipeline (pattern and faults.backwards_range) agree with robfig/cron on every range."""
    disagree = []
    for cron in cron_cases():
        parses = cron_error(cron) is None
        if admits_schedule(cron) != (parses, parses):
            disagree.append(cron)
    assert disagree == [], f"{len(disagree)} schedules, for example {disagree[:5]}"


@pytest.mark.parametrize(("cron", "admitted", "reason"), [
    ("0 9 * * 1-5", True, "weekdays, the case the old pattern refused"),
    ("*/15 9-17/2 1,15 1-6 *", True, "lists, ranges and steps together"),
    ("59-0 * * * *", False, "a backwards minute range"),
    ("0 9 * * 5-1", False, "a backwards weekday range"),
    ("0 9 * * 7", False, "robfig's day of week ends at 6"),
    ("@every 90m", True, "ChaosExperiment takes @every; ImmunityTest refuses it in CEL"),
])
def test_schedule_examples(cron: str, admitted: bool, reason: str) -> None:
    assert admits_schedule(cron) == (admitted, admitted) and (cron_error(cron) is None) == admitted, reason


# --- requests through parse_request and configure, as the pipeline runs them ------------------------


def request(definition: Definition, spec: Obj) -> Obj:
    api = definition.api
    return {"apiVersion": api.api_version, "kind": api.kind, "metadata": {"name": "demo", "namespace": "chat"}, "spec": spec}


def render(definition: Definition, spec: Obj, platform: Obj | None = None) -> Result:
    return definition.configure(parse_request(definition, request(definition, spec)), platform or SETTINGS)


def rejection(definition: Definition, spec: Obj, platform: Obj | None = None) -> str | None:
    try:
        render(definition, spec, platform)
    except RequestInvalid as err:
        return str(err)
    return None


def api_server_admits(definition: Definition, spec: Obj) -> bool:
    obj = request(definition, schema.apply_defaults(definition.api.schema["properties"]["spec"], spec))
    try:
        checks.validate_with_crd(obj, promise_document(definition.name)["spec"]["api"])
    except checks.ManifestInvalid:
        return False
    return True


def objects(result: Result) -> dict[str, Obj]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in (load_one(text) for text in result.files.values())}


def templates(result: Result) -> dict[str, Obj]:
    return {t["name"]: t for t in objects(result)["Schedule/demo-immunity"]["spec"]["workflow"]["templates"]}


def with_settings(**changes: Any) -> dict[str, Any]:
    return harness.with_settings(SETTINGS, **changes)


PARTITION = {"action": "network-partition", "target": {"selector": {"app": "synapse"}}, "peer": {"selector": {"app": "postgresql"}}}
KILL_STEP = {"name": "kill", "action": "pod-kill"}


def steps(*more: Obj) -> Obj:
    return {"schedule": "0 3 * * 0", "target": {"selector": {"app": "synapse"}}, "steps": [KILL_STEP, *more]}


class Setting(NamedTuple):
    id: str
    reason: str
    definition: Definition
    spec: Obj
    platform: Obj
    error: str | None  # None: accepted


# --- (d) the guardrails that depend on the platform settings ---------------------------------------

SETTING_CASES = [
    Setting("max-duration-tightened", "chaos.maxDuration can tighten the CRD's 1h", CHAOS_EXPERIMENT, {"action": "pod-kill", "duration": "45m"},
            with_settings(chaos__maxDuration="30m"), "spec.duration: guardrail max-duration: at most 30m on this platform (got 45m)"),
    Setting("max-duration-step", "and it holds for each ImmunityTest step", IMMUNITY_TEST, steps({"name": "slow", "action": "network-delay", "duration": "45m"}),
            with_settings(chaos__maxDuration="30m"), "spec.steps[1].duration: guardrail max-duration: at most 30m on this platform (got 45m)"),
    Setting("max-duration-default", "within the default 1h, 45m passes", CHAOS_EXPERIMENT, {"action": "pod-kill", "duration": "45m"}, SETTINGS, None),
    Setting("extra-namespace-refused", "another namespace needs chaos.extraTargetNamespaces", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"namespace": "media"}}, SETTINGS,
            "spec.target.namespace: guardrail own-namespace: requests in chat may target chat (got media); platform settings chaos.extraTargetNamespaces can allow more"),
    Setting("extra-namespace-allowed", "listed for the request's namespace, it is accepted", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"namespace": "media"}},
            with_settings(chaos__extraTargetNamespaces={"chat": ["media"]}), None),
    Setting("extra-namespace-other-request", "the list is per request namespace", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"namespace": "media"}},
            with_settings(chaos__extraTargetNamespaces={"shop": ["media"]}),
            "spec.target.namespace: guardrail own-namespace: requests in chat may target chat (got media); platform settings chaos.extraTargetNamespaces can allow more"),
    Setting("protected-by-settings", "chaos.protectedNamespaces wins over extraTargetNamespaces", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"namespace": "media"}},
            with_settings(chaos__extraTargetNamespaces={"chat": ["media"]}, chaos__protectedNamespaces=["media"]),
            "spec.target.namespace: guardrail protected-namespace: media is protected (system, Chaos Mesh, Kratix, Flux, ingress, DNS and operator namespaces are never chaos targets)"),
    Setting("run-tightened", "chaos.maxRunDuration caps the sequence's deadline, slack included (2m30s of steps + 1m)", IMMUNITY_TEST, steps({"name": "slow", "action": "network-delay", "duration": "1m30s"}),
            with_settings(chaos__maxRunDuration="2m30s"),
            "spec.steps: guardrail max-run-duration: a run may last up to 3m30s (the steps plus start-up slack); at most 2m30s on this platform"),
    Setting("run-within", "at the limit a run passes", IMMUNITY_TEST, steps({"name": "slow", "action": "network-delay", "duration": "1m30s"}),
            with_settings(chaos__maxRunDuration="3m30s"), None),
    Setting("platform-by-default", "a platform whose default environment is its own cluster still gets no chaos", CHAOS_EXPERIMENT, {"action": "pod-kill"},
            with_settings(environments__default="platform"),
            "spec.environment: guardrail platform: chaos never runs on the platform cluster (environment platform, the platform's default environment)"),
    Setting("production-by-default", "production by default needs the opt-in too", IMMUNITY_TEST, steps(), with_settings(environments__default="production"),
            "spec.environment: guardrail production: chaos in production (the platform's default environment) needs spec.optIn.production: true"),
]


@pytest.mark.parametrize("case", SETTING_CASES, ids=lambda case: case.id)
def test_guardrails_with_platform_settings(case: Setting) -> None:
    assert rejection(case.definition, case.spec, case.platform) == case.error, case.reason


def test_an_allowed_extra_namespace_is_rendered_there() -> None:
    result = render(CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"namespace": "media"}}, with_settings(chaos__extraTargetNamespaces={"chat": ["media"]}))
    assert objects(result)["PodChaos/demo-chaos"]["spec"]["selector"]["namespaces"] == ["media"]
    assert result.status["prerequisites"] == ["kubectl annotate namespace media chaos-mesh.org/inject=enabled"]


# --- the new request rules: pipeline message, and the API server agrees -----------------------------


class Rule(NamedTuple):
    id: str
    reason: str
    definition: Definition
    spec: Obj
    error: str | None
    api_server_too: bool = True  # False: the API server cannot see what the rule needs


RULES = [
    Rule("fixed-percent-100", "every pod at once, spelt as a percentage", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"mode": "fixed-percent", "value": 100}},
         "spec.target.mode: guardrail mode-all: fixed-percent 100 hits every matching pod at once; set spec.optIn.modeAll: true to mean it"),
    Rule("fixed-percent-99", "any less is not every pod", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"mode": "fixed-percent", "value": 99}}, None),
    Rule("fixed-percent-100-opted-in", "the opt-in allows it", CHAOS_EXPERIMENT, {"action": "pod-kill", "target": {"mode": "fixed-percent", "value": 100}, "optIn": {"modeAll": True}}, None),
    Rule("peer-mode-all", "the peer side is exempt: only traffic with the target is hit", CHAOS_EXPERIMENT, {**PARTITION, "peer": {"selector": {"app": "postgresql"}, "mode": "all"}}, None),
    Rule("platform", "never the platform cluster, opt-in or not", CHAOS_EXPERIMENT, {"action": "pod-kill", "environment": "platform", "optIn": {"production": True, "modeAll": True}},
         "spec.environment: guardrail platform: chaos never runs on the platform cluster (environment platform)"),
    Rule("partition-empty-peer", "an empty peer selector takes the target's pods too", CHAOS_EXPERIMENT, {**PARTITION, "peer": {"selector": {}}},
         "spec.peer.selector: a network-partition needs peer labels: an empty selector selects every pod of the namespace, the target's too (Chaos Mesh refuses overlapping sides, chaos-mesh#3493)"),
    Rule("partition-same-sides", "a peer that is the target", CHAOS_EXPERIMENT, {**PARTITION, "peer": {"selector": {"app": "synapse"}}},
         "spec.peer: a network-partition's peer must differ from its target (namespace or labels): Chaos Mesh refuses overlapping sides (chaos-mesh#3493)"),
    Rule("partition-same-sides-resolved", "the pipeline resolves the request's namespace, which the API server cannot see", CHAOS_EXPERIMENT,
         {**PARTITION, "peer": {"namespace": "chat", "selector": {"app": "synapse"}}},
         "spec.peer: a network-partition's peer must differ from its target (namespace or labels): Chaos Mesh refuses overlapping sides (chaos-mesh#3493)", api_server_too=False),
    Rule("partition-step-inherits-target", "a step's target defaults to spec.target's", IMMUNITY_TEST, steps({"name": "cut", "action": "network-partition", "peer": {"selector": {"app": "synapse"}}}),
         "spec.steps[1].peer: a network-partition's peer must differ from its target (namespace or labels): Chaos Mesh refuses overlapping sides (chaos-mesh#3493)"),
    Rule("partition-step-own-target", "a step's own target differs", IMMUNITY_TEST,
         steps({"name": "cut", "action": "network-partition", "target": {"selector": {"app": "web"}}, "peer": {"selector": {"app": "synapse"}}}), None),
    Rule("io-sibling", "/data2 is not inside /data", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data", "path": "/data2/**"}}, "spec.io.path: must lie inside io.volumePath"),
    Rule("io-volume-itself", "the volume's own path is inside it", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data", "path": "/data"}}, None),
    Rule("io-trailing-slash", "a volumePath with a trailing slash", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data/", "path": "/data/db/*"}}, None),
    Rule("io-dotdot-path", "'..' climbs out of the volume", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data", "path": "/data/../etc/*"}},
         "spec.io.path: must not contain a '..' segment"),
    Rule("io-dotdot-volume", "nor may the volume path climb", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data/.."}},
         "spec.io.volumePath: must not contain a '..' segment"),
    Rule("io-dots-in-names", "dots inside a name are no '..' segment", CHAOS_EXPERIMENT, {"action": "io-fault", "io": {"volumePath": "/data", "path": "/data/..db/x..y"}}, None),
    Rule("prometheus-query-string", "a token in a query string would land in the Task's env", IMMUNITY_TEST,
         steps({"name": "metrics", "action": "verify", "prometheus": {"url": "http://prom:9090/?token=x", "query": "up", "below": "2"}}),
         "spec.steps[1].prometheus.url: must be an http(s) base URL without credentials or a query string"),
    Rule("prometheus-userinfo", "and so would userinfo", IMMUNITY_TEST,
         steps({"name": "metrics", "action": "verify", "prometheus": {"url": "http://user:pw@prom:9090", "query": "up", "below": "2"}}),
         "spec.steps[1].prometheus.url: must be an http(s) base URL without credentials or a query string"),
    Rule("prometheus-path", "a base URL with a path prefix is fine", IMMUNITY_TEST,
         steps({"name": "metrics", "action": "verify", "prometheus": {"url": "https://monitoring.lab.local/prometheus", "query": "up", "below": "2"}}), None),
    Rule("verdict-name", "<step>-passed and <step>-failed are the verdict branches' names", IMMUNITY_TEST, steps({"name": "check-passed", "action": "pause"}),
         "spec.steps[1].name: sequence, names starting with parallel- and names ending in -passed or -failed are taken by the rendered workflow"),
]


@pytest.mark.parametrize("case", RULES, ids=lambda case: case.id)
def test_request_rules(case: Rule) -> None:
    assert rejection(case.definition, case.spec) == case.error, case.reason
    assert api_server_admits(case.definition, case.spec) == (case.error is None or not case.api_server_too), f"the API server must agree: {case.reason}"


@pytest.mark.parametrize(("check_fields", "with_previous", "seconds"), [
    ({"http": {"url": "http://web/"}}, False, 20),
    ({"http": {"url": "http://web/"}}, True, 30),
    ({"prometheus": {"query": "up", "below": "2"}}, False, 30),
], ids=["http", "http-alongside", "prometheus"])
def test_verify_step_shortest_duration(check_fields: Obj, with_previous: bool, seconds: int) -> None:
    """Just under its shortest duration a check could not fail before its deadline: the CEL literals and workflow.py agree."""
    for duration, accepted in ((seconds - 1, False), (seconds, True)):
        step = {"name": "check", "action": "verify", "withPrevious": with_previous, "duration": f"{duration}s", **check_fields}
        spec = {**steps(), "steps": [{**KILL_STEP, "duration": f"{duration}s"}, step]} if with_previous else steps(step)
        error = rejection(IMMUNITY_TEST, spec)
        assert (error is None) == accepted, error
        assert accepted or error.endswith(f"needs at least {seconds}s to fail before its deadline (got {duration}s)")
        assert api_server_admits(IMMUNITY_TEST, spec) == accepted


# --- the Workflow a verify step becomes --------------------------------------------------------------


def test_a_failed_prometheus_check_aborts_the_run() -> None:
    """A Task is accomplished whatever its exit code: only its branches turn a failure into an abort."""
    rendered = templates(render(IMMUNITY_TEST, steps({"name": "metrics", "action": "verify", "prometheus": {"query": "up", "below": "2"}})))
    assert rendered["metrics"]["conditionalBranches"] == [
        {"target": "metrics-passed", "expression": "exitCode == 0"},
        {"target": "metrics-failed", "expression": "exitCode != 0"},
    ]
    assert rendered["metrics-passed"]["templateType"] == "Suspend"
    failed = rendered["metrics-failed"]
    assert failed["templateType"] == "StatusCheck" and failed["abortWithStatusCheck"] is True
    assert failed["statusCheck"]["mode"] == "Synchronous" and failed["statusCheck"]["failureThreshold"] == 1
    assert failed["statusCheck"]["http"]["url"] == workflow.UNREACHABLE_URL


class Threshold(NamedTuple):
    reason: str
    duration: str
    with_previous: bool
    failures: int


@pytest.mark.parametrize("case", [
    Threshold("the shortest check alone fails after one check", "20s", False, 1),
    Threshold("alone, every check that ends before the deadline must fail", "2m", False, 21),
    Threshold("an hour of checks: more than Chaos Mesh keeps by default", "1h", False, 717),
    Threshold("alongside a fault, three in a row", "30s", True, 3),
    Threshold("alongside a long fault, still three", "1h", True, 3),
], ids=lambda case: f"{case.duration}-{'alongside' if case.with_previous else 'alone'}")
def test_http_failure_threshold_is_reached_before_the_deadline(case: Threshold) -> None:
    step = {"name": "health", "action": "verify", "withPrevious": case.with_previous, "duration": case.duration, "http": {"url": "http://web/"}}
    spec = steps(step) if not case.with_previous else {**steps(), "steps": [{**KILL_STEP, "duration": case.duration}, step]}
    status_check = templates(render(IMMUNITY_TEST, spec))["health"]["statusCheck"]
    assert status_check["failureThreshold"] == case.failures, case.reason
    last_check_ends = workflow.STATUS_CHECK_START_SECONDS + case.failures * workflow.STATUS_CHECK_INTERVAL_SECONDS + workflow.STATUS_CHECK_TIMEOUT_SECONDS
    assert last_check_ends * 1000 <= workflow.faults.milliseconds(case.duration), "the threshold must be reachable before the deadline"
    assert status_check["recordsHistoryLimit"] >= status_check["failureThreshold"], "Chaos Mesh counts failures among the records it keeps"


def test_deadlines_carry_slack() -> None:
    """The sequence and each Parallel group outlast their steps by 10%, at least 1m: pod start-up never cuts the last step."""
    health = {"name": "health", "action": "verify", "withPrevious": True, "duration": "30m", "http": {"url": "http://web/"}}
    rendered = templates(render(IMMUNITY_TEST, {**steps(), "steps": [{**KILL_STEP, "duration": "30m"}, health, {"name": "rest", "action": "pause", "duration": "1m"}]}))
    assert rendered["parallel-kill"]["deadline"] == "33m"
    assert rendered["sequence"]["deadline"] == "37m24s"  # (33m + 1m) + 10%


def test_every_template_name_leaves_room_for_chaos_mesh_suffixes() -> None:
    """Nodes are <template>-<5 random>, and each is a label value (at most 63) on its children."""
    long = "v" * 40
    spec = {**steps(), "steps": [{"name": "k" * 40, "action": "pod-kill"}, {"name": long, "action": "verify", "withPrevious": True, "prometheus": {"query": "up", "below": "2"}}]}
    names = list(templates(render(IMMUNITY_TEST, spec)))
    assert f"{long}-failed" in names and f"parallel-{'k' * 40}" in names
    assert all(len(name) + 6 <= 63 for name in names), names


# --- (e) Chaos Mesh's chart values, with the default and every runtime ConfigMap ----------------------


def promise_output() -> dict[str, list[Obj]]:
    """The promise workflow's objects, by output directory ('' is the root every Destination gets)."""
    result = CHAOS_EXPERIMENT.configure_promise(SETTINGS)
    out: dict[str, list[Obj]] = {}
    for path, text in result.files.items():
        directory = path.rpartition("/")[0]
        out.setdefault(directory, []).extend(doc for doc in yaml.safe_load_all(text) if doc)
    return out


@pytest.mark.parametrize("runtime", sorted(SETTINGS["chaos"]["runtimes"]))
def test_chart_values_merge_cleanly_with_each_runtime(runtime: str) -> None:
    output = promise_output()
    directory = "" if runtime == SETTINGS["chaos"]["defaultRuntime"] else f"runtime-{runtime}"
    objs = output[""] + (output[directory] if directory else [])
    assert checks.chart_values_violations(objs) == []
    configmap = next(o for o in (output[directory] if directory else output[""]) if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(chaos_mesh.RUNTIME_VALUES))
    daemon = yaml.safe_load(configmap["data"]["values.yaml"])["chaosDaemon"]
    assert daemon == {k: SETTINGS["chaos"]["runtimes"][runtime][k] for k in ("runtime", "socketPath")}


def test_every_runtime_has_its_directory() -> None:
    runtimes = set(SETTINGS["chaos"]["runtimes"]) - {SETTINGS["chaos"]["defaultRuntime"]}
    assert set(promise_output()) == {""} | {f"runtime-{name}" for name in runtimes}

