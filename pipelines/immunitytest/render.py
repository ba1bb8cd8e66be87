"""ImmunityTest: the scheduled immunity system. Pure render functions, request and settings in,
files, status and selectors out. Chaos Mesh itself comes from the chaosexperiment promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from promisekit import components, naming
from promisekit.contract import Result, Selector
from promisekit.errors import RequestInvalid
from promisekit.promise import Request, condition
from promisekit.render import render_objects
from promisekit.schema import load_api

from pipelines.chaosexperiment import chaos_mesh, faults, guardrails
from pipelines.immunitytest import workflow

PROMISE = "immunitytest"
VERSION = "v0.1.0"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Past runs Chaos Mesh keeps for the dashboard: a month of a weekly test.
HISTORY_LIMIT = 5
STARTING_DEADLINE_SECONDS = 600


def check(request: Request) -> None:
    """The schema's CEL rules, re-checked: Kratix re-runs the pipeline on objects admitted long ago."""
    spec = request.spec
    steps = spec["steps"]
    if spec["schedule"].startswith("@every"):
        raise RequestInvalid("spec.schedule", "@every never fires for a Schedule of type Workflow (chaos-mesh#4624); use a cron expression such as '0 3 * * 0'")
    guardrails.check_schedule(spec["schedule"], "spec.schedule")
    if steps[0]["withPrevious"]:
        raise RequestInvalid("spec.steps[0].withPrevious", "the first step has no previous step to run with")
    if all(step["action"] in workflow.CHECK_ACTIONS for step in steps):
        raise RequestInvalid("spec.steps", "an immunity test needs at least one fault step")
    guardrails.check_side(spec["target"], "spec.target")
    namespace, selector = spec["target"].get("namespace") or request.namespace, spec["target"].get("selector", {})
    for index, step in enumerate(steps):
        where = f"spec.steps[{index}]"
        if step["name"] == workflow.ENTRY or step["name"].startswith(workflow.PARALLEL_PREFIX) or step["name"].endswith((workflow.PASSED_SUFFIX, workflow.FAILED_SUFFIX)):
            raise RequestInvalid(
                f"{where}.name",
                f"{workflow.ENTRY}, names starting with {workflow.PARALLEL_PREFIX} and names ending in "
                f"{workflow.PASSED_SUFFIX} or {workflow.FAILED_SUFFIX} are taken by the rendered workflow",
            )
        guardrails.check_fault(step, where)
        if "target" in step and step["action"] in workflow.CHECK_ACTIONS:
            raise RequestInvalid(f"{where}.target", "only applies to fault steps")
        if (step["action"] == "verify") != ("prometheus" in step or "http" in step):
            raise RequestInvalid(where, "a verify step checks prometheus or http, and only a verify step has them")
        if "prometheus" in step and "http" in step:
            raise RequestInvalid(where, "a verify step checks one of prometheus and http")
        shortest = workflow.shortest_duration(step)
        if shortest and faults.milliseconds(step["duration"]) < shortest[0] * 1000:
            raise RequestInvalid(f"{where}.duration", f"{shortest[1]} needs at least {shortest[0]}s to fail before its deadline (got {step['duration']})")
        if step["action"] == "network-partition":
            target, peer = workflow.sides(step, namespace=namespace, selector=selector)
            guardrails.check_partition_sides(target, peer, f"{where}.peer")
    guardrails.check_opt_ins(spec, [(f"spec.steps[{i}].target.mode", s.get("target", {})) for i, s in enumerate(steps)])


def guard(request: Request, settings: Mapping[str, Any], flow: workflow.Workflow) -> str:
    """The guardrails only the pipeline can apply (namespaces and settings); returns the environment."""
    spec = request.spec
    guardrails.guard_namespace(request.namespace, "metadata.namespace", request, settings)
    if "namespace" in spec["target"]:
        guardrails.guard_namespace(spec["target"]["namespace"], "spec.target.namespace", request, settings)
    for index, step in enumerate(spec["steps"]):
        for side in ("target", "peer"):
            if "namespace" in step.get(side, {}):
                guardrails.guard_namespace(step[side]["namespace"], f"spec.steps[{index}].{side}.namespace", request, settings)
        guardrails.guard_duration(step["duration"], f"spec.steps[{index}].duration", settings)
    guardrails.guard_run_duration(flow.run_ms, "spec.steps", settings)
    return guardrails.guard_environment(request, settings)


def configure(request: Request, settings: Mapping[str, Any]) -> Result:
    """A Schedule of type Workflow that runs the steps on the cron schedule, and a dashboard login."""
    spec = request.spec
    chaos = settings["chaos"]
    base = naming.object_name(request.name, "immunity")
    viewer = naming.object_name(base, "viewer")
    defaults = workflow.Defaults(
        namespace=spec["target"].get("namespace") or request.namespace,
        selector=spec["target"].get("selector", {}),
        prometheus_url=chaos["prometheusUrl"],
        verify_image=chaos["verifyImage"],
    )
    step_schema = load_api(PROMISE).schema["properties"]["spec"]["properties"]["steps"]["items"]
    flow = workflow.build(spec["steps"], defaults, step_schema)
    environment = guard(request, settings, flow)
    labels = naming.standard_labels(promise=PROMISE, request=request.name, namespace=request.namespace, component="immunity", version=VERSION)
    objects = chaos_mesh.dashboard_viewer(name=viewer, namespace=request.namespace, labels=labels) + render_objects(
        TEMPLATES,
        "schedule.yaml.j2",
        name=base,
        namespace=request.namespace,
        labels=labels,
        schedule=spec["schedule"],
        history_limit=HISTORY_LIMIT,
        starting_deadline=STARTING_DEADLINE_SECONDS,
        entry=flow.entry,
        templates=flow.templates,
    )
    when = faults.describe_schedule(spec["schedule"], chaos["timezone"])
    url = chaos_mesh.dashboard_url(settings)
    namespaces = [ns for step in spec["steps"] for ns in workflow.step_namespaces(step, defaults)]
    observe = [line for line in (workflow.observe(step) for step in spec["steps"]) if line]
    return Result(
        files=components.manifest_files(objects),
        status={
            "message": f"Schedule {base}: {flow.sequence}, {when}, on {environment}; watch {url}",
            "kind": "Schedule",
            "name": base,
            "environment": environment,
            "schedule": when,
            "cron": spec["schedule"],
            "sequence": flow.sequence,
            "dashboardUrl": url,
            "dashboardLogin": f"kubectl create token {viewer} -n {request.namespace}",
            "prerequisites": guardrails.prerequisites(namespaces),
            "observe": [*observe, *spec.get("observe", [])],
            "conditions": [
                condition(request, "ManifestsRendered", ok=True, reason="Rendered", message=f"Schedule of type Workflow with {len(flow.templates)} templates for environment {environment}"),
                condition(
                    request,
                    "GuardrailsPassed",
                    ok=True,
                    reason="WithinGuardrails",
                    message=f"namespaces {', '.join(sorted(set(namespaces)))}; every step within {chaos['maxDuration']}; "
                    f"one run at most {faults.go_duration(flow.run_ms)}, within {chaos['maxRunDuration']}",
                ),
            ],
        },
        selectors=[Selector(match_labels={"environment": environment, **chaos_mesh.DESTINATIONS})],
    )


def delete(request: Request, settings: Mapping[str, Any]) -> Result:
    """Configure writes nothing outside the state store: Flux prunes, and Chaos Mesh stops the runs."""
    base = naming.object_name(request.name, "immunity")
    return Result(status={"message": f"Deleted: Flux prunes Schedule {base} and its dashboard login; Chaos Mesh stops a running run and recovers its pods"})
