"""An ImmunityTest's steps as Chaos Mesh Workflow templates: a Serial entry, Parallel groups for
steps that run with the previous one, and one template per step (a Prometheus verify step adds its two verdict branches), every one with a deadline
(inside a Workflow a chaos spec must not carry a duration)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit import security

from pipelines.chaosexperiment import faults

ENTRY = "sequence"
PARALLEL_PREFIX = "parallel-"
# A Prometheus verify step's verdict branches: <step>-passed and <step>-failed.
PASSED_SUFFIX = "-passed"
FAILED_SUFFIX = "-failed"
CHECK_ACTIONS = ("pause", "verify")
VERIFY_SCRIPT = Path(__file__).resolve().parent / "verify_prometheus.py"
# The Python image runs as root by default; the Task pod may land in a restricted namespace.
VERIFY_UID = 65534
VERIFY_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
# The Task pod starts, queries (verify_prometheus.py gives up after 10s) and reports within this.
PROMETHEUS_MIN_SECONDS = 30
STATUS_CHECK_INTERVAL_SECONDS = 5
STATUS_CHECK_TIMEOUT_SECONDS = 3
# Reconciles before a StatusCheck node's first check; a check still running at the deadline passes.
STATUS_CHECK_START_SECONDS = 12
# Three failures in a row abort a check that runs alongside a fault.
CONTINUOUS_FAILURES = 3
# Chaos Mesh's default; it counts the failures in a row among the records it keeps, so it must hold them.
STATUS_CHECK_HISTORY = 100
# Nothing listens on port 1 of chaos-controller-manager's loopback: a check there fails at once.
UNREACHABLE_URL = "http://127.0.0.1:1/"
# The passed branch only marks the verdict in the dashboard; the failed one needs a few seconds to abort.
PASSED_DEADLINE = "1s"
FAILED_DEADLINE = "30s"
# Headroom on the sequence's and each Parallel group's deadline, so pod start-up never cuts off the last step.
SLACK_SHARE = 10
MIN_SLACK_MS = 60_000


class Workflow(NamedTuple):
    entry: str
    templates: list[dict[str, Any]]
    sequence: str  # the steps as a reader sees them: "a -> b + c -> d"
    run_ms: int  # the entry's deadline: the longest one run may take


class Defaults(NamedTuple):
    """What a step leaves out: the test's target and the platform's Prometheus."""

    namespace: str
    selector: Mapping[str, str]
    prometheus_url: str
    verify_image: str


def build(steps: list[Mapping[str, Any]], defaults: Defaults, step_schema: Mapping[str, Any]) -> Workflow:
    groups: list[list[Mapping[str, Any]]] = []
    for step in steps:
        if step["withPrevious"] and groups:
            groups[-1].append(step)
        else:
            groups.append([step])
    children: list[str] = []
    parallels: list[dict[str, Any]] = []
    total_ms = 0
    for group in groups:
        longest = max(faults.milliseconds(step["duration"]) for step in group)
        if len(group) == 1:
            children.append(group[0]["name"])
            total_ms += longest
            continue
        name = PARALLEL_PREFIX + group[0]["name"]
        parallels.append({"name": name, "templateType": "Parallel", "deadline": faults.go_duration(with_slack(longest)), "children": [s["name"] for s in group]})
        children.append(name)
        total_ms += with_slack(longest)
    run_ms = with_slack(total_ms)
    entry = {"name": ENTRY, "templateType": "Serial", "deadline": faults.go_duration(run_ms), "children": children}
    templates = [entry, *parallels, *(template for step in steps for template in step_templates(step, defaults, step_schema))]
    sequence = " -> ".join(" + ".join(step["name"] for step in group) for group in groups)
    return Workflow(ENTRY, templates, sequence, run_ms)


def with_slack(ms: int) -> int:
    return ms + max(ms // SLACK_SHARE, MIN_SLACK_MS)


def step_templates(step: Mapping[str, Any], defaults: Defaults, step_schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The step's template, and for a Prometheus verify step the two branches of its verdict."""
    action = step["action"]
    if action == "pause":
        return [_template(step, "Suspend")]
    if action == "verify" and "http" in step:
        return [_template(step, "StatusCheck", abortWithStatusCheck=True, statusCheck=_status_check(step))]
    if action == "verify":
        return _prometheus_check(step, defaults)
    fault = faults.FAULTS[action]
    target_fields = step.get("target", {})
    target, peer = sides(step, namespace=defaults.namespace, selector=defaults.selector)
    spec = faults.chaos_spec(
        action,
        target=target,
        containers=target_fields.get("containers", []),
        peer=peer,
        direction=step.get("direction"),
        parameters=faults.parameters_of(action, step, step_schema),
        duration=None,
    )
    return [_template(step, fault.kind, **{fault.key: spec})]


def sides(step: Mapping[str, Any], *, namespace: str, selector: Mapping[str, str]) -> tuple[faults.Side, faults.Side | None]:
    """A fault step's target (the test's unless it names its own) and its peer (all matching pods by default)."""
    target = faults.side(step.get("target", {}), namespace=namespace, selector=selector)
    peer = faults.side(step["peer"], namespace=namespace, mode="all") if "peer" in step else None
    return target, peer


def shortest_duration(step: Mapping[str, Any]) -> tuple[int, str] | None:
    """(seconds, which check) a verify step needs for its check to fail before its deadline; None for other steps."""
    if "prometheus" in step:
        return PROMETHEUS_MIN_SECONDS, "a prometheus check (its pod starts and queries for up to 10s, then its verdict branch runs)"
    if "http" in step:
        checks = CONTINUOUS_FAILURES if step["withPrevious"] else 1
        seconds = STATUS_CHECK_START_SECONDS + checks * STATUS_CHECK_INTERVAL_SECONDS + STATUS_CHECK_TIMEOUT_SECONDS
        timing = f"{STATUS_CHECK_START_SECONDS}s to start, then checks {STATUS_CHECK_INTERVAL_SECONDS}s apart of up to {STATUS_CHECK_TIMEOUT_SECONDS}s each"
        if step["withPrevious"]:
            return seconds, f"an http check alongside a fault ({timing}, {CONTINUOUS_FAILURES} failed in a row)"
        return seconds, f"an http check ({timing})"
    return None


def step_namespaces(step: Mapping[str, Any], defaults: Defaults) -> list[str]:
    """The namespaces a fault step touches; none for a pause or a check."""
    if step["action"] in CHECK_ACTIONS:
        return []
    sides = [step.get("target", {})] + ([step["peer"]] if "peer" in step else [])
    return [side.get("namespace") or defaults.namespace for side in sides]


def observe(step: Mapping[str, Any]) -> str | None:
    """What to watch at this step, or None for a pause."""
    action = step["action"]
    if action == "pause":
        return None
    if action == "verify" and "http" in step:
        return f"{step['name']}: the StatusCheck of {step['http']['url']}; a failure aborts the rest of the run"
    if action == "verify":
        return (
            f"{step['name']}: the Task pod's log line, PASS or FAIL with the worst value against {step['prometheus']['below']}; "
            f"{step['name']}{FAILED_SUFFIX} aborts the rest of the run, {step['name']}{PASSED_SUFFIX} lets it go on"
        )
    return f"{step['name']}: {faults.FAULTS[action].observe[0]}"


def _template(step: Mapping[str, Any], template_type: str, **body: Any) -> dict[str, Any]:
    return {"name": step["name"], "templateType": template_type, "deadline": step["duration"], **body}


def _status_check(step: Mapping[str, Any]) -> dict[str, Any]:
    alongside = step["withPrevious"]
    # Alone, the check waits for health and fails once every check it has time for failed; alongside a fault, health must hold throughout.
    failures = CONTINUOUS_FAILURES if alongside else _checks_before_deadline(step["duration"])
    return {
        "mode": "Continuous" if alongside else "Synchronous",
        "type": "HTTP",
        "intervalSeconds": STATUS_CHECK_INTERVAL_SECONDS,
        "timeoutSeconds": STATUS_CHECK_TIMEOUT_SECONDS,
        "successThreshold": 1,
        "failureThreshold": failures,
        "recordsHistoryLimit": max(failures, STATUS_CHECK_HISTORY),
        "http": {"url": step["http"]["url"], "method": "GET", "criteria": {"statusCode": step["http"]["statusCode"]}},
    }


def _checks_before_deadline(duration: str) -> int:
    """How many checks end before the deadline: the first starts after start-up and one interval."""
    seconds = faults.milliseconds(duration) // 1000
    return (seconds - STATUS_CHECK_START_SECONDS - STATUS_CHECK_TIMEOUT_SECONDS) // STATUS_CHECK_INTERVAL_SECONDS


def _prometheus_check(step: Mapping[str, Any], defaults: Defaults) -> list[dict[str, Any]]:
    """A Task whose exit code picks a branch: Chaos Mesh marks a Task accomplished whatever its exit code."""
    prometheus = step["prometheus"]
    name = step["name"]
    container = {
        "name": "verify",
        "image": defaults.verify_image,
        "command": ["python3", "-c", verify_script()],
        "env": [
            {"name": "PROMETHEUS_URL", "value": prometheus.get("url") or defaults.prometheus_url},
            {"name": "QUERY", "value": prometheus["query"]},
            {"name": "BELOW", "value": prometheus["below"]},
        ],
        "resources": VERIFY_RESOURCES,
        "securityContext": {**security.container_security_context(), "runAsUser": VERIFY_UID, "runAsGroup": VERIFY_UID},
    }
    branches = [
        {"target": name + PASSED_SUFFIX, "expression": "exitCode == 0"},
        {"target": name + FAILED_SUFFIX, "expression": "exitCode != 0"},
    ]
    passed = {"name": name + PASSED_SUFFIX, "templateType": "Suspend", "deadline": PASSED_DEADLINE}
    # Only a StatusCheck can abort a Workflow: this one cannot succeed, so it aborts the run.
    failed = {
        "name": name + FAILED_SUFFIX,
        "templateType": "StatusCheck",
        "deadline": FAILED_DEADLINE,
        "abortWithStatusCheck": True,
        "statusCheck": {
            "mode": "Synchronous",
            "type": "HTTP",
            "intervalSeconds": 1,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 1,
            "http": {"url": UNREACHABLE_URL, "method": "GET", "criteria": {"statusCode": "200"}},
        },
    }
    return [_template(step, "Task", task={"container": container}, conditionalBranches=branches), passed, failed]


@lru_cache(maxsize=1)
def verify_script() -> str:
    return VERIFY_SCRIPT.read_text(encoding="utf-8")
