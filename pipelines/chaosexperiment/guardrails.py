"""The rules every chaos request passes before anything is rendered, shared by ChaosExperiment
and ImmunityTest. `check_*` re-check what the schemas state in CEL (Kratix re-runs old objects);
`guard_*` need what the API server cannot see: the request's namespace and the platform settings.
A rejected request names the guardrail it hit: "<field>: guardrail <name>: <why>".
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from promisekit import components, schema
from promisekit.errors import RequestInvalid
from promisekit.promise import Request

from pipelines.chaosexperiment import faults

# Never a target whatever the settings say; the same list is in both schemas' CEL (a test checks).
CORE_PROTECTED = (
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "chaos-mesh",
    "kratix-platform-system",
    "kratix-worker-system",
    components.FLUX_NAMESPACE,
    "ingress-nginx",
)
PRODUCTION = "production"
# The platform cluster's own Destination label: Kratix, Flux and every promise's controllers run there.
PLATFORM = "platform"
MAX_DURATION = "1h"
INJECT_ANNOTATION = "chaos-mesh.org/inject=enabled"
_VALUE_MODES = ("fixed", "fixed-percent")
_PROTECTED_WHY = "system, Chaos Mesh, Kratix, Flux, ingress, DNS and operator namespaces are never chaos targets"
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def check_fault(fields: Mapping[str, Any], where: str) -> None:
    """The CEL rules of one fault (a ChaosExperiment's spec or an ImmunityTest step)."""
    action = fields["action"]
    network = action.startswith("network-")
    target = fields.get("target") or {}
    if action == "network-partition" and "peer" not in fields:
        raise RequestInvalid(f"{where}.peer", "a network-partition needs peer: the pods on the other side of the cut")
    if "peer" in fields and not network:
        raise RequestInvalid(f"{where}.peer", "only applies to network faults")
    if "direction" in fields and not network:
        raise RequestInvalid(f"{where}.direction", "only applies to network faults")
    if fields.get("direction", "to") != "to" and "peer" not in fields:
        raise RequestInvalid(f"{where}.direction", "from or both needs peer (Chaos Mesh refuses them without a target)")
    if action == "container-kill" and "containers" not in target:
        raise RequestInvalid(f"{where}.target.containers", "container-kill needs the containers to kill")
    if "containers" in target and network:
        raise RequestInvalid(f"{where}.target.containers", "does not apply to network faults")
    if "network" in fields and (not network or action == "network-partition"):
        raise RequestInvalid(f"{where}.network", "only applies to network-delay, -loss, -duplicate, -corrupt and -bandwidth")
    if ("io" in fields) != action.startswith("io-"):
        raise RequestInvalid(f"{where}.io", "io (with its volumePath) is required for io faults, and only applies to them")
    if "io" in fields:
        check_io_paths(fields["io"], f"{where}.io")
    if "stress" in fields and not action.startswith("stress-"):
        raise RequestInvalid(f"{where}.stress", "only applies to stress faults")
    if action == "network-partition" and "peer" in fields and not fields["peer"].get("selector"):
        raise RequestInvalid(
            f"{where}.peer.selector",
            "a network-partition needs peer labels: an empty selector selects every pod of the namespace, the target's too "
            "(Chaos Mesh refuses overlapping sides, chaos-mesh#3493)",
        )
    for side in ("target", "peer"):
        if side in fields:
            check_side(fields[side], f"{where}.{side}")
    check_duration_ceiling(fields["duration"], f"{where}.duration")


def check_io_paths(io: Mapping[str, Any], where: str) -> None:
    """volumePath and path without '..', and path the volume itself or below it (/data2 is not inside /data)."""
    for field in ("volumePath", "path"):
        if field in io and ".." in io[field].split("/"):
            raise RequestInvalid(f"{where}.{field}", "must not contain a '..' segment")
    volume, path = io["volumePath"], io.get("path")
    if path is not None and path != volume and not path.startswith(volume if volume.endswith("/") else f"{volume}/"):
        raise RequestInvalid(f"{where}.path", "must lie inside io.volumePath")


def check_partition_sides(target: faults.Side, peer: faults.Side, where: str) -> None:
    """A partition's two sides differ: Chaos Mesh refuses a NetworkChaos whose sides are the same pods."""
    if (peer.namespace, dict(peer.selector)) == (target.namespace, dict(target.selector)):
        raise RequestInvalid(
            where,
            "a network-partition's peer must differ from its target (namespace or labels): Chaos Mesh refuses overlapping sides (chaos-mesh#3493)",
        )


def check_schedule(cron: str, where: str) -> None:
    backwards = faults.backwards_range(cron)
    if backwards:
        raise RequestInvalid(where, f"the cron range {backwards} runs backwards; write it upwards, such as 1-5 (robfig/cron refuses it)")


def check_side(side: Mapping[str, Any], where: str) -> None:
    """One side's CEL rules (value goes with mode, no core namespace) and its label keys."""
    if "mode" in side and (side["mode"] in _VALUE_MODES) != ("value" in side):
        raise RequestInvalid(f"{where}.value", "set it with mode fixed or fixed-percent, and only then")
    if side.get("mode") == "fixed-percent" and side.get("value", 0) > 100:
        raise RequestInvalid(f"{where}.value", "a fixed-percent value is at most 100")
    if side.get("namespace") in CORE_PROTECTED:
        raise RequestInvalid(f"{where}.namespace", f"guardrail protected-namespace: {side['namespace']} is protected ({_PROTECTED_WHY})")
    # A structural schema cannot constrain map keys: only the pipeline checks them.
    for key in side.get("selector", {}):
        prefix, _, name = key.rpartition("/")
        if not _LABEL_KEY.match(key) or len(name) > 63 or len(prefix) > 253:
            raise RequestInvalid(f"{where}.selector", f"{schema.describe(key)} is not a label key ([DNS prefix/]name of at most 63 letters, digits, '-', '_', '.')")


def check_duration_ceiling(duration: str, where: str) -> None:
    if faults.milliseconds(duration) > faults.milliseconds(MAX_DURATION):
        raise RequestInvalid(where, f"guardrail max-duration: at most {MAX_DURATION} (got {duration})")


def check_opt_ins(spec: Mapping[str, Any], targets: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Every matching pod at once (mode all, fixed-percent 100) and the production environment only with their opt-in.

    The peer side is exempt: a network fault only hits traffic between target and peer, so the
    target's pods bound what breaks however many peers there are.
    """
    opt_in = spec["optIn"]
    for where, target in targets:
        every = every_pod(target)
        if every and not opt_in["modeAll"]:
            raise RequestInvalid(where, f"guardrail mode-all: {every} hits every matching pod at once; set spec.optIn.modeAll: true to mean it")
    if spec.get("environment") == PRODUCTION and not opt_in["production"]:
        raise RequestInvalid("spec.environment", "guardrail production: chaos in production needs spec.optIn.production: true")


def every_pod(target: Mapping[str, Any]) -> str | None:
    """How a target picks every matching pod ("mode all", "fixed-percent 100"), or None when it does not."""
    mode = target.get("mode")
    if mode == "all":
        return "mode all"
    if mode == "fixed-percent" and target.get("value", 0) >= 100:
        return f"fixed-percent {target['value']}"
    return None


def protected_namespaces(settings: Mapping[str, Any]) -> frozenset[str]:
    """The core list plus every namespace the settings name for the platform's own components."""
    charts = settings["charts"]
    return frozenset(
        {
            *CORE_PROTECTED,
            settings["chaos"]["chart"]["namespace"],
            settings["ingress"]["controllerNamespace"],
            settings["dns"]["namespace"],
            charts["cloudnativePg"]["namespace"],
            charts["externalSecrets"]["namespace"],
            *settings["chaos"]["protectedNamespaces"],
        }
    )


def allowed_namespaces(request: Request, settings: Mapping[str, Any]) -> list[str]:
    """The request's own namespace, then those platform settings allow it."""
    extra = settings["chaos"]["extraTargetNamespaces"].get(request.namespace, [])
    return [request.namespace, *(ns for ns in extra if ns != request.namespace)]


def guard_namespace(namespace: str, where: str, request: Request, settings: Mapping[str, Any]) -> None:
    if namespace in protected_namespaces(settings):
        raise RequestInvalid(where, f"guardrail protected-namespace: {namespace} is protected ({_PROTECTED_WHY})")
    allowed = allowed_namespaces(request, settings)
    if namespace not in allowed:
        raise RequestInvalid(
            where,
            f"guardrail own-namespace: requests in {request.namespace} may target {', '.join(allowed)} (got {namespace}); "
            "platform settings chaos.extraTargetNamespaces can allow more",
        )


def guard_duration(duration: str, where: str, settings: Mapping[str, Any]) -> None:
    ceiling = settings["chaos"]["maxDuration"]
    if faults.milliseconds(duration) > faults.milliseconds(ceiling):
        raise RequestInvalid(where, f"guardrail max-duration: at most {ceiling} on this platform (got {duration})")


def guard_run_duration(run_ms: int, where: str, settings: Mapping[str, Any]) -> None:
    """One run of a sequence (its entry's deadline) within the platform's chaos.maxRunDuration."""
    ceiling = settings["chaos"]["maxRunDuration"]
    if run_ms > faults.milliseconds(ceiling):
        raise RequestInvalid(
            where,
            f"guardrail max-run-duration: a run may last up to {faults.go_duration(run_ms)} (the steps plus start-up slack); "
            f"at most {ceiling} on this platform",
        )


def guard_environment(request: Request, settings: Mapping[str, Any]) -> str:
    """The environment the request runs in: never the platform cluster, production only with its opt-in, even by default."""
    named = request.spec.get("environment")
    environment = named or settings["environments"]["default"]
    by_default = "" if named else ", the platform's default environment"
    if environment == PLATFORM:
        raise RequestInvalid("spec.environment", f"guardrail platform: chaos never runs on the platform cluster (environment platform{by_default})")
    if environment == PRODUCTION and not request.spec["optIn"]["production"]:
        raise RequestInvalid(
            "spec.environment",
            "guardrail production: chaos in production (the platform's default environment) needs spec.optIn.production: true",
        )
    return environment


def prerequisites(namespaces: Iterable[str]) -> list[str]:
    """What each target namespace's owner must do: Chaos Mesh only injects into opted-in namespaces."""
    return [f"kubectl annotate namespace {ns} {INJECT_ANNOTATION}" for ns in sorted(set(namespaces))]
