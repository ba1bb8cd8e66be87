"""ChaosExperiment: one fault as a service. Pure render functions, request and settings in,
files, status and selectors out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from promisekit import components, naming
from promisekit.contract import Result, Selector
from promisekit.promise import Request, condition
from promisekit.render import render_objects
from promisekit.schema import load_api

from pipelines.chaosexperiment import chaos_mesh, faults, guardrails

PROMISE = "chaosexperiment"
VERSION = "v0.1.0"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Past runs of a scheduled fault that Chaos Mesh keeps for the dashboard.
HISTORY_LIMIT = 5


def check(request: Request) -> None:
    """The schema's CEL rules, re-checked: Kratix re-runs the pipeline on objects admitted long ago."""
    spec = request.spec
    guardrails.check_fault(spec, "spec")
    if spec["action"] == "network-partition":
        target, peer = sides(request)
        guardrails.check_partition_sides(target, peer, "spec.peer")
    if "schedule" in spec:
        guardrails.check_schedule(spec["schedule"], "spec.schedule")
    guardrails.check_opt_ins(spec, [("spec.target.mode", spec["target"])])


def guard(request: Request, settings: Mapping[str, Any]) -> str:
    """The guardrails only the pipeline can apply (namespaces and settings); returns the environment."""
    spec = request.spec
    guardrails.guard_namespace(request.namespace, "metadata.namespace", request, settings)
    for field in ("target", "peer"):
        if "namespace" in spec.get(field, {}):
            guardrails.guard_namespace(spec[field]["namespace"], f"spec.{field}.namespace", request, settings)
    guardrails.guard_duration(spec["duration"], "spec.duration", settings)
    return guardrails.guard_environment(request, settings)


def configure(request: Request, settings: Mapping[str, Any]) -> Result:
    """The Chaos Mesh object of one ChaosExperiment (or its Schedule) and a dashboard login."""
    environment = guard(request, settings)
    spec = request.spec
    action = spec["action"]
    fault = faults.FAULTS[action]
    base = naming.object_name(request.name, "chaos")
    viewer = naming.object_name(base, "viewer")
    target, peer = sides(request)
    schedule = spec.get("schedule", "")
    chaos = faults.chaos_spec(
        action,
        target=target,
        containers=spec["target"].get("containers", []),
        peer=peer,
        direction=spec.get("direction"),
        parameters=faults.parameters_of(action, spec, load_api(PROMISE).schema["properties"]["spec"]),
        duration=spec["duration"],
    )
    labels = naming.standard_labels(promise=PROMISE, request=request.name, namespace=request.namespace, component="chaos", version=VERSION)
    objects = chaos_mesh.dashboard_viewer(name=viewer, namespace=request.namespace, labels=labels) + render_objects(
        TEMPLATES,
        "experiment.yaml.j2",
        name=base,
        namespace=request.namespace,
        labels=labels,
        schedule=schedule,
        kind=fault.kind,
        key=fault.key,
        chaos=chaos,
        history_limit=HISTORY_LIMIT,
    )
    rendered = "Schedule" if schedule else fault.kind
    when = faults.describe_schedule(schedule, settings["chaos"]["timezone"]) if schedule else "once, now"
    between = target.describe() + (f" <-> {peer.describe()}" if peer else "")
    url = chaos_mesh.dashboard_url(settings)
    namespaces = [target.namespace] + ([peer.namespace] if peer else [])
    status: dict[str, Any] = {
        "message": f"{rendered} {base}: {action} of {between} for {spec['duration']}, {when}; watch {url}",
        "kind": rendered,
        "name": base,
        "action": action,
        "environment": environment,
        "schedule": when,
        "dashboardUrl": url,
        "dashboardLogin": f"kubectl create token {viewer} -n {request.namespace}",
        "prerequisites": guardrails.prerequisites(namespaces),
        "observe": [*fault.observe, *spec.get("observe", [])],
        "conditions": [
            condition(request, "ManifestsRendered", ok=True, reason="Rendered", message=f"{rendered} and a dashboard login for environment {environment}"),
            condition(
                request,
                "GuardrailsPassed",
                ok=True,
                reason="WithinGuardrails",
                message=f"namespaces {', '.join(sorted(set(namespaces)))}; {spec['duration']} within {settings['chaos']['maxDuration']}; mode {target.mode}",
            ),
        ],
    }
    if schedule:
        status["cron"] = schedule
    return Result(
        files=components.manifest_files(objects),
        status=status,
        selectors=[Selector(match_labels={"environment": environment, **chaos_mesh.DESTINATIONS})],
    )


def sides(request: Request) -> tuple[faults.Side, faults.Side | None]:
    """The target and, for a network fault that names one, the peer (all its matching pods by default)."""
    spec = request.spec
    target = faults.side(spec["target"], namespace=request.namespace)
    peer = faults.side(spec["peer"], namespace=request.namespace, mode="all") if "peer" in spec else None
    return target, peer


def delete(request: Request, settings: Mapping[str, Any]) -> Result:
    """Configure writes nothing outside the state store: Flux prunes, and Chaos Mesh recovers the pods."""
    base = naming.object_name(request.name, "chaos")
    return Result(status={"message": f"Deleted: Flux prunes {base} and its dashboard login; Chaos Mesh recovers every pod it injected"})


def configure_promise(settings: Mapping[str, Any]) -> Result:
    """Chaos Mesh itself, once for both chaos promises (ImmunityTest requires this one)."""
    labels = naming.dependency_labels(promise=PROMISE, component="chaos-mesh", version=VERSION)
    return chaos_mesh.install(settings, labels=labels)
