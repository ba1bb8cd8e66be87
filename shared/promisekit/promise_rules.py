"""What Kratix's Promise admission webhook enforces beyond the Promise CRD schema.

Pipelines are not a CRD: the webhook decodes each one with unknown fields disallowed, so
these rules are checked here, offline, on every promise.yaml we build.
"""

from __future__ import annotations

from typing import Any, Iterator

PIPELINE_KEYS = frozenset({"apiVersion", "kind", "metadata", "spec"})
PIPELINE_SPEC_KEYS = frozenset(
    {"containers", "imagePullSecrets", "jobOptions", "nodeSelector", "tolerations", "restartPolicy", "volumes", "rbac"}
)
CONTAINER_KEYS = frozenset(
    {"name", "image", "args", "command", "env", "envFrom", "volumeMounts", "imagePullPolicy", "securityContext", "resources"}
)
# The name becomes a ServiceAccount and Role name, with room for Kratix's own suffixes.
MAX_PIPELINE_IDENTITY = 60


def violations(promise: dict[str, Any]) -> list[str]:
    """Every rule the promise breaks, each one line; empty when Kratix would admit it."""
    return list(_violations(promise))


def _violations(promise: dict[str, Any]) -> Iterator[str]:
    name = promise.get("metadata", {}).get("name", "")
    spec = promise.get("spec", {})
    api = spec.get("api")
    if api is not None:
        yield from _api_violations(api)
    for wtype, actions in (spec.get("workflows") or {}).items():
        if wtype == "config":
            continue
        for action, pipelines in (actions or {}).items():
            seen: set[str] = set()
            for index, pipeline in enumerate(pipelines or []):
                where = f"spec.workflows.{wtype}.{action}[{index}]"
                yield from _pipeline_violations(pipeline, where)
                pname = pipeline.get("metadata", {}).get("name", "")
                if pname in seen:
                    yield f"{where}.metadata.name: duplicate pipeline name {pname!r}"
                seen.add(pname)
                identity = f"{name}-{wtype}-{action}-{pname}"
                if len(identity) > MAX_PIPELINE_IDENTITY:
                    yield f"{where}.metadata.name: {identity!r} is {len(identity)} characters, over {MAX_PIPELINE_IDENTITY}"


def _api_violations(api: dict[str, Any]) -> Iterator[str]:
    crd_spec = api.get("spec", {})
    if api.get("apiVersion") != "apiextensions.k8s.io/v1" or api.get("kind") != "CustomResourceDefinition":
        yield "spec.api: must be an apiextensions.k8s.io/v1 CustomResourceDefinition"
    if crd_spec.get("scope") != "Namespaced":
        yield "spec.api.spec.scope: promise api needs to be namespace scoped"
    for index, version in enumerate(crd_spec.get("versions", [])):
        columns = version.get("additionalPrinterColumns", [])
        if columns and not any(c.get("jsonPath") == ".status.message" for c in columns):
            yield f"spec.api.spec.versions[{index}].additionalPrinterColumns: must show .status.message"


def _pipeline_violations(pipeline: dict[str, Any], where: str) -> Iterator[str]:
    for key in sorted(set(pipeline) - PIPELINE_KEYS):
        yield f"{where}.{key}: unknown field"
    if pipeline.get("apiVersion") != "platform.kratix.io/v1alpha1" or pipeline.get("kind") != "Pipeline":
        yield f"{where}: must be apiVersion platform.kratix.io/v1alpha1, kind Pipeline"
    spec = pipeline.get("spec", {})
    for key in sorted(set(spec) - PIPELINE_SPEC_KEYS):
        yield f"{where}.spec.{key}: unknown field"
    for index, container in enumerate(spec.get("containers", [])):
        here = f"{where}.spec.containers[{index}]"
        for key in sorted(set(container) - CONTAINER_KEYS):
            yield f"{here}.{key}: unknown field (Kratix accepts only {', '.join(sorted(CONTAINER_KEYS))})"
        if "resources" not in container:
            yield f"{here}.resources: required (Kratix's default is 200m CPU and 256Mi)"
        if "securityContext" not in container:
            yield f"{here}.securityContext: required (Kratix sets none for pipeline containers)"
