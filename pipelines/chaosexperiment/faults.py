"""One fault as Chaos Mesh spells it: the action table, and the chaos spec of a ChaosExperiment
or of an ImmunityTest step. Pure functions of already validated, defaulted request fields."""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

from promisekit import schema


class Fault(NamedTuple):
    """One action of the API and the Chaos Mesh object that performs it."""

    kind: str
    key: str  # the spec's key when a Schedule or a Workflow template embeds it
    action: str  # the Chaos Mesh action ("" for StressChaos, which has none)
    family: str  # the request field holding its parameters: network, io, stress, or none
    observe: tuple[str, ...]


_POD_RECOVERY = "how long until a replacement pod is Ready, and whether clients notice (errors, retries, latency)"
_NETWORK_CLIENTS = "do clients time out or retry, and do their error messages say what is wrong"
FAULTS: Mapping[str, Fault] = {
    "pod-kill": Fault("PodChaos", "podChaos", "pod-kill", "", (
        _POD_RECOVERY,
        "whether in-flight requests fail or are retried elsewhere",
    )),
    "pod-failure": Fault("PodChaos", "podChaos", "pod-failure", "", (
        "the pod stays scheduled but unavailable: do readiness probes take it out of its Service",
        "whether the workload recovers by itself once the fault ends",
    )),
    "container-kill": Fault("PodChaos", "podChaos", "container-kill", "", (
        "the container restarts in place: how long until it is Ready, and what state it lost",
        _POD_RECOVERY,
    )),
    "network-delay": Fault("NetworkChaos", "networkChaos", "delay", "network", (
        "request latency as users see it (p50 and p99), and whether timeouts fire",
        _NETWORK_CLIENTS,
    )),
    "network-loss": Fault("NetworkChaos", "networkChaos", "loss", "network", (
        "retransmissions and retries: does throughput collapse or degrade gracefully",
        _NETWORK_CLIENTS,
    )),
    "network-duplicate": Fault("NetworkChaos", "networkChaos", "duplicate", "network", (
        "whether duplicated packets cause duplicated effects (idempotency of writes)",
    )),
    "network-corrupt": Fault("NetworkChaos", "networkChaos", "corrupt", "network", (
        "checksum errors and reconnects: does the protocol detect the damage",
        _NETWORK_CLIENTS,
    )),
    "network-partition": Fault("NetworkChaos", "networkChaos", "partition", "", (
        "does the client show 'reconnecting' while the link is down",
        "are messages buffered and delivered after recovery, or lost",
        "which error the reverse proxy returns: 502 (connection refused) or 504 (upstream timeout)",
        "how long after the partition ends until everything is healthy again",
    )),
    "network-bandwidth": Fault("NetworkChaos", "networkChaos", "bandwidth", "network", (
        "whether large responses or uploads time out while small requests still pass",
    )),
    "io-latency": Fault("IOChaos", "ioChaos", "latency", "io", (
        "query and write latency of the service using the volume, and whether its health checks fail",
    )),
    "io-fault": Fault("IOChaos", "ioChaos", "fault", "io", (
        "whether read and write errors surface as clear errors, crash the process, or corrupt data",
    )),
    "stress-cpu": Fault("StressChaos", "stressChaos", "", "stress", (
        "CPU throttling against the container's limit, and the latency users see",
    )),
    "stress-memory": Fault("StressChaos", "stressChaos", "", "stress", (
        "whether the container is OOM-killed, and how the service behaves near its memory limit",
    )),
}
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_CRON_DAYS = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")


class Side(NamedTuple):
    """Pods on one side of a fault: where, which labels, and how many of them."""

    namespace: str
    selector: Mapping[str, str]
    mode: str
    value: int | None = None

    def chaos_selector(self) -> dict[str, Any]:
        selector: dict[str, Any] = {"namespaces": [self.namespace]}
        if self.selector:
            selector["labelSelectors"] = dict(sorted(self.selector.items()))
        return selector

    def describe(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.selector.items())) or "every pod"
        return f"{labels} in {self.namespace}"


def chaos_spec(
    action: str,
    *,
    target: Side,
    containers: list[str],
    peer: Side | None,
    direction: str | None,
    parameters: Mapping[str, Any],
    duration: str | None,
) -> dict[str, Any]:
    """The spec of the Chaos Mesh object; no duration inside a Workflow, where the deadline rules."""
    fault = FAULTS[action]
    spec: dict[str, Any] = {"action": fault.action} if fault.action else {}
    spec.update(_mode(target))
    spec["selector"] = target.chaos_selector()
    if containers:
        spec["containerNames"] = list(containers)
    if fault.kind == "NetworkChaos":
        spec["direction"] = direction or ("both" if fault.action == "partition" else "to")
        if peer is not None:
            spec["target"] = {**_mode(peer), "selector": peer.chaos_selector()}
        spec.update(_network(fault.action, parameters))
    elif fault.kind == "IOChaos":
        spec.update(_io(fault.action, parameters))
    elif fault.kind == "StressChaos":
        spec["stressors"] = _stressors(action, parameters)
    if duration is not None:
        spec["duration"] = duration
    return spec


def parameters_of(action: str, values: Mapping[str, Any], spec_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The fault's parameter object with every schema default filled in, given or not."""
    fault = FAULTS[action]
    if not fault.family:
        return {}
    return dict(schema.apply_defaults(dict(spec_schema["properties"][fault.family]), dict(values.get(fault.family) or {})))


def _mode(side: Side) -> dict[str, Any]:
    # Chaos Mesh's value is a string, even for a count.
    return {"mode": side.mode, **({"value": str(side.value)} if side.value is not None else {})}


def _network(action: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    correlation = str(parameters.get("correlation", 0))
    if action == "delay":
        return {"delay": {"latency": parameters["latency"], "jitter": parameters["jitter"], "correlation": correlation}}
    if action in ("loss", "duplicate", "corrupt"):
        return {action: {action: str(parameters["percent"]), "correlation": correlation}}
    if action == "bandwidth":
        return {"bandwidth": {"rate": parameters["rate"], "limit": parameters["limit"], "buffer": parameters["buffer"]}}
    return {}


def _io(action: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"volumePath": parameters["volumePath"]}
    if parameters.get("path"):
        spec["path"] = parameters["path"]
    if action == "latency":
        spec["delay"] = parameters["delay"]
    else:
        spec["errno"] = parameters["errno"]
    spec["percent"] = parameters["percent"]
    return spec


def _stressors(action: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    if action == "stress-cpu":
        return {"cpu": {"workers": parameters["workers"], "load": parameters["load"]}}
    return {"memory": {"workers": parameters["workers"], "size": parameters["size"]}}


def milliseconds(duration: str) -> int:
    """A duration of the API's form (1h30m, 90s, 500ms) in milliseconds."""
    return sum(int(number) * _MILLISECONDS[unit] for number, unit in _DURATION_PART.findall(duration))


def go_duration(total_ms: int) -> str:
    """Milliseconds as the shortest Go duration that says them (5m30s, 1h, 250ms)."""
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")) if n)
    return text or "0s"


def describe_schedule(cron: str, timezone: str) -> str:
    """A cron schedule in words where it is a common one ("Mondays to Fridays at 09:00 UTC"), else quoted."""
    descriptors = {"@hourly": "hourly", "@daily": f"daily at 00:00 {timezone}", "@midnight": f"daily at 00:00 {timezone}",
                   "@weekly": f"Sundays at 00:00 {timezone}", "@monthly": f"monthly on the 1st at 00:00 {timezone}",
                   "@yearly": f"yearly on 1 January at 00:00 {timezone}", "@annually": f"yearly on 1 January at 00:00 {timezone}"}
    if cron in descriptors:
        return descriptors[cron]
    if cron.startswith("@every "):
        return f"every {cron.removeprefix('@every ')}"
    minute, hour, day, month, weekday = cron.split()
    days = _weekdays_in_words(weekday)
    if minute.isdigit() and hour.isdigit() and day == "*" and month == "*" and days:
        return f"{days} at {int(hour):02d}:{int(minute):02d} {timezone}"
    return f"on cron '{cron}' ({timezone})"


def _weekdays_in_words(field: str) -> str | None:
    """A day-of-week field of days and ranges in words ("Mondays to Fridays"); None with steps."""
    if field == "*":
        return "daily"
    if "*" in field or "/" in field:
        return None
    parts = []
    for item in field.split(","):
        first, _, last = item.partition("-")
        parts.append(_CRON_DAYS[int(first)] + (f" to {_CRON_DAYS[int(last)]}" if last else ""))
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def backwards_range(cron: str) -> str | None:
    """The first range of a cron expression that runs backwards (5-1), which robfig/cron refuses."""
    if cron.startswith("@"):
        return None
    for field in cron.split():
        for item in field.split(","):
            first, dash, last = item.partition("/")[0].partition("-")
            if dash and int(first) > int(last):
                return f"{first}-{last}"
    return None


def side(values: Mapping[str, Any], *, namespace: str, selector: Mapping[str, str] | None = None, mode: str = "one") -> Side:
    """A target or peer from its request fields; what they leave out comes from the defaults given."""
    labels = values["selector"] if "selector" in values else (selector or {})
    return Side(values.get("namespace") or namespace, dict(labels), values.get("mode", mode), values.get("value"))
