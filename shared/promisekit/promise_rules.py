"""What Kratix's Promise admission webhook enforces beyond the Promise CRD schema, and the
few rules this library adds on top.

Pipelines are not a CRD: the webhook decodes each one with unknown fields disallowed, so
these rules are checked offline, on every promise.yaml we build and every one the local
runner installs.
"""

from __future__ import annotations

from typing import Any, Iterator

PIPELINE_API_VERSION = "platform.kratix.io/v1alpha1"
PIPELINE_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec"})
PIPELINE_SPEC_KEYS = frozenset(
    {"containers", "imagePullSecrets", "jobOptions", "nodeSelector", "tolerations", "restartPolicy", "volumes", "rbac"}
)
CONTAINER_KEYS = frozenset(
    {"name", "image", "args", "command", "env", "envFrom", "volumeMounts", "imagePullPolicy", "securityContext", "resources"}
)
WORKFLOW_TYPES = ("promise", "resource")
WORKFLOW_ACTIONS = ("configure", "delete")
# The name becomes a ServiceAccount and Role name, with room for Kratix's own suffixes.
MAX_PIPELINE_IDENTITY = 60


def webhook_violations(promise: dict[str, Any]) -> list[str]:
    """Every rule Kratix's webhook would refuse the promise for, each one line, in its order."""
    return list(_webhook(promise))


def violations(promise: dict[str, Any]) -> list[str]:
    """The webhook's rules plus ours: explicit resources and securityContext, a readable status column."""
    return webhook_violations(promise) + list(_library(promise))


def pipelines(promise: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, pipeline) for every Pipeline of the promise, in workflow order."""
    workflows = (promise.get("spec") or {}).get("workflows") or {}
    for wtype in WORKFLOW_TYPES:
        for action in WORKFLOW_ACTIONS:
            for index, pipeline in enumerate((workflows.get(wtype) or {}).get(action) or []):
                yield f"spec.workflows.{wtype}.{action}[{index}]", pipeline


def _webhook(promise: dict[str, Any]) -> Iterator[str]:
    api = (promise.get("spec") or {}).get("api")
    if api is not None:
        if api.get("apiVersion") != "apiextensions.k8s.io/v1" or api.get("kind") != "CustomResourceDefinition":
            yield "spec.api: must be an apiextensions.k8s.io/v1 CustomResourceDefinition"
        elif (api.get("spec") or {}).get("scope") != "Namespaced":
            yield "spec.api: promise api needs to be namespace scoped"
    name = (promise.get("metadata") or {}).get("name", "")
    seen: set[tuple[str, str, str]] = set()
    for where, pipeline in pipelines(promise):
        problems = list(_pipeline_problems(pipeline, where))
        yield from problems
        if problems:
            continue
        wtype, action = where.split(".")[2:4]
        action = action.split("[")[0]
        pipeline_name = pipeline["metadata"]["name"]
        if (wtype, action, pipeline_name) in seen:
            yield f"{where}.metadata.name: duplicate pipeline name {pipeline_name!r}"
        seen.add((wtype, action, pipeline_name))
        identity = f"{name}-{wtype}-{action}-{pipeline_name}"
        if len(identity) > MAX_PIPELINE_IDENTITY:
            yield f"{where}.metadata.name: {identity!r} is {len(identity)} characters, over {MAX_PIPELINE_IDENTITY}"


def _pipeline_problems(pipeline: Any, where: str) -> Iterator[str]:
    if not isinstance(pipeline, dict):
        yield f"{where}: must be a Pipeline object"
        return
    for key in sorted(set(pipeline) - PIPELINE_KEYS):
        yield f'{where}: unknown field "{key}"'
    if pipeline.get("apiVersion") != PIPELINE_API_VERSION or pipeline.get("kind") != "Pipeline":
        yield f"{where}: must be apiVersion {PIPELINE_API_VERSION}, kind Pipeline"
    if not (pipeline.get("metadata") or {}).get("name"):
        yield f"{where}.metadata.name: Required value"
    spec = pipeline.get("spec") or {}
    for key in sorted(set(spec) - PIPELINE_SPEC_KEYS):
        yield f'{where}.spec: unknown field "{key}"'
    containers = spec.get("containers") or []
    if not containers:
        yield f"{where}.spec.containers: Required value"
    for index, container in enumerate(containers):
        here = f"{where}.spec.containers[{index}]"
        for key in sorted(set(container) - CONTAINER_KEYS):
            yield f'{here}: unknown field "{key}"'
        for required in ("name", "image"):
            if not container.get(required):
                yield f"{here}.{required}: Required value"


def _library(promise: dict[str, Any]) -> Iterator[str]:
    api = (promise.get("spec") or {}).get("api") or {}
    for index, version in enumerate((api.get("spec") or {}).get("versions", [])):
        columns = version.get("additionalPrinterColumns", [])
        if columns and not any(c.get("jsonPath") == ".status.message" for c in columns):
            yield f"spec.api.spec.versions[{index}].additionalPrinterColumns: must show .status.message"
    for where, pipeline in pipelines(promise):
        for index, container in enumerate((pipeline.get("spec") or {}).get("containers") or []):
            here = f"{where}.spec.containers[{index}]"
            if "resources" not in container:
                yield f"{here}.resources: required (Kratix's default is 200m CPU and 256Mi)"
            if "securityContext" not in container:
                yield f"{here}.securityContext: required (Kratix sets none for pipeline containers)"
