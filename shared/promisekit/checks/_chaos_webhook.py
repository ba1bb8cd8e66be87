"""What Chaos Mesh refuses beyond its CRD schemas: the admission webhook of chaos-controller-manager
(v2.8: api/v1alpha1/*_webhook.go, common_validation.go and the genericwebhook field validators),
plus the upstream traps that admit an object which then never runs (research workloads.md §3).

The webhook's failurePolicy is Fail, so a manifest it refuses never reaches the cluster: Flux
reports the apply error and the experiment silently does not happen. Checked offline like a schema.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

CHAOS_GROUP = "chaos-mesh.org"
# Each chaos kind and the key that embeds its spec in a Schedule or a Workflow template.
CHAOS_KINDS: Mapping[str, str] = {
    "AWSChaos": "awsChaos",
    "AzureChaos": "azureChaos",
    "BlockChaos": "blockChaos",
    "DNSChaos": "dnsChaos",
    "GCPChaos": "gcpChaos",
    "HTTPChaos": "httpChaos",
    "IOChaos": "ioChaos",
    "JVMChaos": "jvmChaos",
    "KernelChaos": "kernelChaos",
    "NetworkChaos": "networkChaos",
    "PhysicalMachineChaos": "physicalmachineChaos",
    "PodChaos": "podChaos",
    "StressChaos": "stressChaos",
    "TimeChaos": "timeChaos",
}
FLOW_TYPES = ("Task", "Serial", "Parallel", "Suspend", "StatusCheck", "Schedule")
TEMPLATE_TYPES = FLOW_TYPES + tuple(CHAOS_KINDS)
# A Schedule names its runs <schedule>-<unix time>; a Workflow run's nodes need six more characters.
MAX_SCHEDULE_NAME = 57
MAX_WORKFLOW_SCHEDULE_NAME = 51
# What a template of each flow type may carry besides name, type and deadline.
_TEMPLATE_PARTS = ("task", "children", "conditionalBranches", "schedule", "statusCheck")
_ALLOWED_PARTS: Mapping[str, frozenset[str]] = {
    "Suspend": frozenset(),
    "Serial": frozenset({"children"}),
    "Parallel": frozenset({"children"}),
    "Task": frozenset({"task", "conditionalBranches"}),
    "Schedule": frozenset({"schedule"}),
    "StatusCheck": frozenset({"statusCheck"}),
}
# Actions whose pod is killed outright: without a deadline the chaos node never completes (chaos-mesh#4539).
_INSTANT_ACTIONS = frozenset({"pod-kill", "container-kill"})
# A StatusCheck's CRD defaults: the thresholds count results in a row among the records it keeps.
_STATUS_CHECK_DEFAULTS = {"failureThreshold": 3, "successThreshold": 1, "recordsHistoryLimit": 100}

_GO_DURATION = re.compile(r"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+|[-+]?0")
_GO_FLOAT = re.compile(r"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)", re.I)
_GO_INT = re.compile(r"[-+]?[0-9]+")
_HUMAN_SIZE = re.compile(r"[0-9]+(?:\.[0-9]+)* ?[kKmMgGtTpP]?[iI]?[bB]?")
_RATE_UNITS = ("tbps", "gbps", "mbps", "kbps", "bps")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

# robfig/cron's standard parser (what the webhook and the controller use): field bounds and names.
_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}),
    ("day of week", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
_CRON_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})

Finding = tuple[str, str]


def webhook_violations(obj: Mapping[str, Any]) -> list[str]:
    """'<json path>: <problem>' for each rule a chaos-mesh.org object breaks; [] when Chaos Mesh admits it."""
    kind = obj.get("kind")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Schedule":
        findings = _schedule(obj.get("metadata") or {}, spec)
    elif kind == "Workflow":
        findings = _workflow(spec, "$.spec")
    elif kind in CHAOS_KINDS:
        findings = _chaos(str(kind), spec, "$.spec", in_workflow=False)
    else:
        findings = iter(())
    return [f"{path}: {problem}" for path, problem in findings]


def is_go_duration(text: Any) -> bool:
    """What Go's time.ParseDuration accepts (the webhook parses every duration and deadline with it)."""
    return isinstance(text, str) and _GO_DURATION.fullmatch(text) is not None


def cron_error(spec: Any) -> str | None:
    """Why robfig/cron's ParseStandard refuses a schedule, or None when it parses."""
    if not isinstance(spec, str) or not spec.strip():
        return "empty spec string"
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone, _, text = text.partition(" ")
        if not zone.partition("=")[2]:
            return f"provided bad location {zone!r}"
        text = text.strip()
        if not text:
            return "empty spec string"
    if text.startswith("@"):
        if text.startswith("@every "):
            return None if is_go_duration(text.removeprefix("@every ").strip()) else f"failed to parse duration {text}"
        return None if text in _CRON_DESCRIPTORS else f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"expected exactly 5 fields, found {len(fields)}: {text}"
    for field, (label, low, high, names) in zip(fields, _CRON_FIELDS):
        for expression in field.split(","):
            problem = _cron_range_error(expression, low, high, names)
            if problem:
                return f"{label} {expression!r}: {problem}"
    return None


def _cron_range_error(expression: str, low: int, high: int, names: Mapping[str, int]) -> str | None:
    range_and_step = expression.split("/")
    if len(range_and_step) > 2:
        return "too many slashes"
    bounds = range_and_step[0].split("-")
    if range_and_step[0] in ("*", "?"):
        start, end = low, high
    elif len(bounds) > 2:
        return "too many hyphens"
    else:
        numbers = [n for n in (_cron_number(part, names) for part in bounds) if n is not None]
        if len(numbers) != len(bounds):
            return "not a number or a name"
        start, end = numbers[0], numbers[-1]
        if len(range_and_step) == 2 and len(bounds) == 1:
            end = high  # "a/n" means a through the maximum, every n
    if len(range_and_step) == 2:
        step = _cron_number(range_and_step[1], {})
        if step is None or step == 0:
            return "step of range should be a positive number"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low})"
    if end > high:
        return f"end of range ({end}) above maximum ({high})"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end})"
    return None


def _cron_number(text: str, names: Mapping[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    if not _GO_INT.fullmatch(text) or int(text) < 0:
        return None
    return int(text)


def _schedule(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> Iterator[Finding]:
    schedule_type = spec.get("type")
    limit = MAX_WORKFLOW_SCHEDULE_NAME if schedule_type == "Workflow" else MAX_SCHEDULE_NAME
    name = str(metadata.get("name") or "")
    if len(name) > limit:
        yield "$.metadata.name", f"a Schedule{' of type Workflow' if limit == MAX_WORKFLOW_SCHEDULE_NAME else ''} name must be at most {limit} characters (got {len(name)})"
    yield from _schedule_spec(spec, "$.spec", allow_workflow=True)


def _schedule_spec(spec: Mapping[str, Any], path: str, *, allow_workflow: bool) -> Iterator[Finding]:
    problem = cron_error(spec.get("schedule"))
    if problem:
        yield f"{path}.schedule", f"parse schedule field error: {problem}"
    schedule_type = spec.get("type")
    if schedule_type == "Workflow" and allow_workflow:
        if str(spec.get("schedule", "")).strip().startswith("@every"):
            yield f"{path}.schedule", "@every never fires for a Schedule of type Workflow (chaos-mesh#4624); use a cron expression"
        if not isinstance(spec.get("workflow"), dict):
            yield f"{path}.workflow", "required for type Workflow"
        else:
            yield from _workflow(spec["workflow"], f"{path}.workflow")
        return
    if schedule_type not in CHAOS_KINDS:
        allowed = "a chaos kind" + (" or Workflow" if allow_workflow else " (a Schedule template cannot schedule a Workflow)")
        yield f"{path}.type", f"unrecognized type {schedule_type!r}: must be {allowed}"
        return
    key = CHAOS_KINDS[str(schedule_type)]
    if not isinstance(spec.get(key), dict):
        yield f"{path}.{key}", f"required for type {schedule_type}"
        return
    yield from _chaos(str(schedule_type), spec[key], f"{path}.{key}", in_workflow=False)


def _workflow(spec: Mapping[str, Any], path: str) -> Iterator[Finding]:
    templates = spec.get("templates") if isinstance(spec.get("templates"), list) else []
    names = [t.get("name") for t in templates if isinstance(t, dict)]
    entry = spec.get("entry")
    if not entry:
        yield f"{path}.entry", "the entry of workflow is required"
    elif entry not in names:
        yield f"{path}.entry", f"can not find a template with name {entry}"
    if not templates:
        yield f"{path}.templates", "templates in workflow could not be empty"
        return
    duplicated = sorted({n for n in names if names.count(n) > 1 and isinstance(n, str)})
    if duplicated:
        yield f"{path}.templates", f"template name must be unique, duplicated names: {duplicated}"
    for index, template in enumerate(templates):
        yield from _template(template, f"{path}.templates[{index}]", set(n for n in names if isinstance(n, str)))


def _template(template: Mapping[str, Any], path: str, names: set[str]) -> Iterator[Finding]:
    name = template.get("name")
    if not isinstance(name, str) or not name:
        yield f"{path}.name", "name of template is required"
    elif len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        yield f"{path}.name", f"field name must be DNS-1123 subdomain (got {name!r})"
    template_type = template.get("templateType")
    if template_type not in TEMPLATE_TYPES:
        yield f"{path}.templateType", f"unrecognized template type: {template_type}"
        return
    deadline = template.get("deadline")
    if deadline is not None and not is_go_duration(deadline):
        yield f"{path}.deadline", f"must be a Go duration such as 30s or 5m (got {deadline!r})"
    embedded = [key for key in CHAOS_KINDS.values() if key in template]
    allowed = _ALLOWED_PARTS.get(str(template_type), frozenset())
    for part in _TEMPLATE_PARTS:
        if template.get(part) and part not in allowed:
            yield f"{path}.{part}", f"a {template_type} template should not contain {part}"
    if template_type in CHAOS_KINDS:
        key = CHAOS_KINDS[str(template_type)]
        if not isinstance(template.get(key), dict):
            yield f"{path}.{key}", f"the value of chaos {template_type} is required"
            return
        yield from _chaos(str(template_type), template[key], f"{path}.{key}", in_workflow=True)
        if not deadline and template[key].get("action") in _INSTANT_ACTIONS:
            yield f"{path}.deadline", "required: without it the node never completes and the workflow stops here (chaos-mesh#4539)"
        return
    if embedded:
        yield f"{path}.{embedded[0]}", f"a {template_type} template should not contain any chaos"
    if template_type == "Suspend" and not deadline:
        yield f"{path}.deadline", "deadline in template with type Suspend could not be empty"
    elif template_type in ("Serial", "Parallel"):
        for index, child in enumerate(template.get("children") or []):
            if child not in names:
                yield f"{path}.children[{index}]", f"can not find a template with name {child}"
    elif template_type == "Task":
        for index, branch in enumerate(template.get("conditionalBranches") or []):
            if isinstance(branch, dict) and branch.get("target") not in names:
                yield f"{path}.conditionalBranches[{index}].target", f"can not find a template with name {branch.get('target')}"
    elif template_type == "Schedule":
        if not isinstance(template.get("schedule"), dict):
            yield f"{path}.schedule", "required for a Schedule template"
        else:
            yield from _schedule_spec(template["schedule"], f"{path}.schedule", allow_workflow=False)
    elif template_type == "StatusCheck":
        yield from _status_check(template.get("statusCheck"), f"{path}.statusCheck")


def _status_check(check: Any, path: str) -> Iterator[Finding]:
    if not isinstance(check, dict):
        yield path, "required for a StatusCheck template"
        return
    if check.get("type", "HTTP") != "HTTP":
        yield f"{path}.type", f"unrecognized type: {check.get('type')}"
        return
    http = check.get("http")
    if not isinstance(http, dict):
        yield f"{path}.http", "the detail of http status check is required"
        return
    problem = _request_uri_error(http.get("url"))
    if problem:
        yield f"{path}.http.url", problem
    code = str((http.get("criteria") or {}).get("statusCode", ""))
    problem = _status_code_error(code)
    if problem:
        yield f"{path}.http.criteria.statusCode", problem
    kept = check.get("recordsHistoryLimit", _STATUS_CHECK_DEFAULTS["recordsHistoryLimit"])
    for field in ("failureThreshold", "successThreshold"):
        threshold = check.get(field, _STATUS_CHECK_DEFAULTS[field])
        if isinstance(threshold, int) and isinstance(kept, int) and threshold > kept:
            # controllers/statuscheck: the conditions count the kept records, so the threshold is never reached.
            yield f"{path}.{field}", f"{threshold} results in a row can never be counted among the {kept} records kept (recordsHistoryLimit)"


def _request_uri_error(url: Any) -> str | None:
    """Roughly Go's url.ParseRequestURI: absolute, no control characters, well-formed escapes and host."""
    if not isinstance(url, str) or not url:
        return "request url is required"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url) or _BAD_ESCAPE.search(url):
        return f"invalid http request url {url!r}"
    if not url.startswith("/") and not _URI_SCHEME.match(url):
        return f"invalid http request url {url!r} (not absolute)"
    authority = url.partition("://")[2].split("/", 1)[0] if "://" in url else ""
    if re.search(r"[\s\"<>\\^`{|}]", authority):
        return f"invalid http request url {url!r} (bad host)"
    return None


def _status_code_error(code: str) -> str | None:
    if not code:
        return "status code is required"
    parts = code.split("-", 1)
    for part in parts:
        if not _GO_INT.fullmatch(part) or not 0 < int(part) < 1000:
            return f"incorrect status code format: {code!r} is not a code (1-999) or an inclusive range such as 200-399"
    return None


def _chaos(kind: str, spec: Mapping[str, Any], path: str, *, in_workflow: bool) -> Iterator[Finding]:
    duration = spec.get("duration")
    if duration is not None:
        if in_workflow:
            yield f"{path}.duration", "should not define duration in chaos when using Workflow, use Template#Deadline instead"
        elif not is_go_duration(duration):
            yield f"{path}.duration", f"parse duration field error: {duration!r} is not a Go duration"
    if "mode" in spec:
        yield from _mode_value(spec.get("mode"), spec.get("value"), f"{path}.value")
    checks = {"PodChaos": _pod_chaos, "NetworkChaos": _network_chaos, "IOChaos": _io_chaos, "StressChaos": _stress_chaos}
    if kind in checks:
        yield from checks[kind](spec, path)


def _mode_value(mode: Any, value: Any, path: str) -> Iterator[Finding]:
    if mode == "fixed":
        if not isinstance(value, str) or not _GO_INT.fullmatch(value):
            yield path, f"parse value field error: {value!r} is not an integer (mode fixed)"
        elif int(value) <= 0:
            yield path, "value must be greater than 0 with mode:fixed"
    elif mode in ("fixed-percent", "random-max-percent"):
        if not isinstance(value, str) or not _GO_INT.fullmatch(value):
            yield path, f"parse value field error: {value!r} is not an integer (mode {mode})"
        elif not 0 < int(value) <= 100:
            yield path, f"value of {int(value)} is invalid, Must be (0,100] with mode:{mode}"


def _pod_chaos(spec: Mapping[str, Any], path: str) -> Iterator[Finding]:
    if spec.get("action") == "container-kill" and not spec.get("containerNames"):
        yield f"{path}.containerNames", "the name of container should not be empty on container-kill action"


def _network_chaos(spec: Mapping[str, Any], path: str) -> Iterator[Finding]:
    delay = spec.get("delay")
    if isinstance(delay, dict):
        for field in ("latency", "jitter"):
            if field in delay and not is_go_duration(delay[field]):
                yield f"{path}.delay.{field}", f"parse {field} field error: {delay[field]!r} is not a Go duration"
        yield from _floats(delay, ("correlation",), f"{path}.delay")
        if isinstance(delay.get("reorder"), dict):
            yield from _floats(delay["reorder"], ("reorder", "correlation"), f"{path}.delay.reorder")
    for field in ("loss", "duplicate", "corrupt"):
        if isinstance(spec.get(field), dict):
            yield from _floats(spec[field], (field, "correlation"), f"{path}.{field}")
    bandwidth = spec.get("bandwidth")
    if isinstance(bandwidth, dict) and not _is_rate(bandwidth.get("rate")):
        yield f"{path}.bandwidth.rate", f"parse rate field error: {bandwidth.get('rate')!r} needs one of the units {', '.join(_RATE_UNITS)}"
    target = spec.get("target")
    if isinstance(target, dict):
        yield from _mode_value(target.get("mode"), target.get("value"), f"{path}.target.value")
    if spec.get("action") == "partition":
        return
    direction = spec.get("direction", "to")
    if direction in ("from", "both") and spec.get("externalTargets"):
        yield f"{path}.direction", "external targets cannot be used with `from` and `both` direction in netem action yet"
    if direction in ("from", "both") and not target:
        yield f"{path}.direction", "`from` and `both` direction cannot be used when targets is empty in netem action"


def _floats(spec: Mapping[str, Any], fields: tuple[str, ...], path: str) -> Iterator[Finding]:
    for field in fields:
        if field in spec and not (isinstance(spec[field], str) and _GO_FLOAT.fullmatch(spec[field])):
            yield f"{path}.{field}", f"parse {field} field error: {spec[field]!r} is not a number"


def _is_rate(rate: Any) -> bool:
    if not isinstance(rate, str):
        return False
    text = rate.strip().lower()
    unit = next((u for u in _RATE_UNITS if text.endswith(u)), None)
    return unit is not None and text.removesuffix(unit).strip().isdigit()


def _io_chaos(spec: Mapping[str, Any], path: str) -> Iterator[Finding]:
    action = spec.get("action")
    if action == "latency" and not is_go_duration(spec.get("delay")):
        yield f"{path}.delay", f"parse delay field error: {spec.get('delay')!r} is not a Go duration, for action:latency"
    if action == "fault" and not spec.get("errno"):
        yield f"{path}.errno", "action fault: errno 0 is not supported"
    percent = spec.get("percent", 100)
    if isinstance(percent, int) and not 0 <= percent <= 100:
        yield f"{path}.percent", "percent field should be in 0-100"


def _stress_chaos(spec: Mapping[str, Any], path: str) -> Iterator[Finding]:
    stressors = spec.get("stressors")
    if not stressors and not spec.get("stressngStressors"):
        yield path, "missing stressors"
        return
    if isinstance(stressors, dict):
        if not stressors.get("cpu") and not stressors.get("memory"):
            yield f"{path}.stressors", "missing stressors"
        size = (stressors.get("memory") or {}).get("size")
        if size and not _is_size(size):
            yield f"{path}.stressors.memory.size", f"incorrect bytes format: {size!r} (a size such as 256MB, or a percentage such as 50%)"


def _is_size(size: Any) -> bool:
    if not isinstance(size, str):
        return False
    if size.endswith("%"):
        return _GO_INT.fullmatch(size[:-1]) is not None and 0 <= int(size[:-1]) <= 100
    return _HUMAN_SIZE.fullmatch(size) is not None
