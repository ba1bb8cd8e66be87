"""An ImmunityTest's steps as Chaos Mesh Workflow templates: a Serial entry, Parallel groups for
steps that run with the previous one, and one template per step, every one with a deadline
(inside a Workflow a chaos spec must not carry a duration)."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit import security

from pipelines.chaosexperiment import faults

ENTRY = "sequence"
PARALLEL_PREFIX = "parallel-"
CHECK_ACTIONS = ("pause", "verify")
VERIFY_SCRIPT = Path(__file__).resolve().parent / "verify_prometheus.py"
# The Python image runs as root by default; the Task pod may land in a restricted namespace.
VERIFY_UID = 65534
VERIFY_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
STATUS_CHECK_INTERVAL_SECONDS = 5
# Three failures in a row abort a check that runs alongside a fault.
CONTINUOUS_FAILURES = 3


class Workflow(NamedTuple):
    entry: str
    templates: list[dict[str, Any]]
    sequence: str  # the steps as a reader sees them: "a -> b + c -> d"


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
        total_ms += longest
        if len(group) == 1:
            children.append(group[0]["name"])
            continue
        name = PARALLEL_PREFIX + group[0]["name"]
        parallels.append({"name": name, "templateType": "Parallel", "deadline": faults.go_duration(longest), "children": [s["name"] for s in group]})
        children.append(name)
    entry = {"name": ENTRY, "templateType": "Serial", "deadline": faults.go_duration(total_ms), "children": children}
    templates = [entry, *parallels, *(step_template(step, defaults, step_schema) for step in steps)]
    sequence = " -> ".join(" + ".join(step["name"] for step in group) for group in groups)
    return Workflow(ENTRY, templates, sequence)


def step_template(step: Mapping[str, Any], defaults: Defaults, step_schema: Mapping[str, Any]) -> dict[str, Any]:
    action = step["action"]
    if action == "pause":
        return _template(step, "Suspend")
    if action == "verify" and "http" in step:
        return _template(step, "StatusCheck", **_status_check(step))
    if action == "verify":
        return _template(step, "Task", task={"container": _prometheus_check(step["prometheus"], defaults)})
    fault = faults.FAULTS[action]
    target_fields = step.get("target", {})
    target = faults.side(target_fields, namespace=defaults.namespace, selector=defaults.selector)
    peer = faults.side(step["peer"], namespace=defaults.namespace, mode="all") if "peer" in step else None
    spec = faults.chaos_spec(
        action,
        target=target,
        containers=target_fields.get("containers", []),
        peer=peer,
        direction=step.get("direction"),
        parameters=faults.parameters_of(action, step, step_schema),
        duration=None,
    )
    return _template(step, fault.kind, **{fault.key: spec})


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
        return f"{step['name']}: the Task pod's log line, PASS or FAIL with the worst value against {step['prometheus']['below']}"
    return f"{step['name']}: {faults.FAULTS[action].observe[0]}"


def _template(step: Mapping[str, Any], template_type: str, **body: Any) -> dict[str, Any]:
    return {"name": step["name"], "templateType": template_type, "deadline": step["duration"], **body}


def _status_check(step: Mapping[str, Any]) -> dict[str, Any]:
    alongside = step["withPrevious"]
    # Alone, the check waits up to the deadline for health; alongside a fault, health must hold throughout.
    failures = CONTINUOUS_FAILURES if alongside else max(1, math.ceil(faults.milliseconds(step["duration"]) / 1000 / STATUS_CHECK_INTERVAL_SECONDS))
    return {
        "abortWithStatusCheck": True,
        "statusCheck": {
            "mode": "Continuous" if alongside else "Synchronous",
            "type": "HTTP",
            "intervalSeconds": STATUS_CHECK_INTERVAL_SECONDS,
            "timeoutSeconds": STATUS_CHECK_INTERVAL_SECONDS - 2,
            "successThreshold": 1,
            "failureThreshold": failures,
            "http": {"url": step["http"]["url"], "method": "GET", "criteria": {"statusCode": step["http"]["statusCode"]}},
        },
    }


def _prometheus_check(prometheus: Mapping[str, Any], defaults: Defaults) -> dict[str, Any]:
    return {
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


@lru_cache(maxsize=1)
def verify_script() -> str:
    return VERIFY_SCRIPT.read_text(encoding="utf-8")
