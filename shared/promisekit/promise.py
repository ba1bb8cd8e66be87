"""What a pipeline package declares, and the request it is handed."""

from __future__ import annotations

import os
import time
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

from promisekit import schema
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.naming import DNS_LABEL


class Request(NamedTuple):
    """A validated, defaulted resource request."""

    name: str
    namespace: str
    spec: dict[str, Any]
    status: dict[str, Any]
    generation: int
    raw: dict[str, Any]

    def condition(self, type_: str) -> dict[str, Any]:
        """The request's condition of that type; a missing one reads as Unknown."""
        for cond in self.status.get("conditions", []) or []:
            if isinstance(cond, dict) and cond.get("type") == type_:
                return cond
        return {"type": type_, "status": "Unknown"}


class Pipeline(NamedTuple):
    """One Kratix Pipeline of the promise: where it runs and what it may use."""

    name: str
    cpu_request: str = "50m"
    cpu_limit: str = "500m"
    memory_request: str = "64Mi"
    memory_limit: str = "128Mi"


STANDARD_PIPELINES: Mapping[str, Pipeline] = MappingProxyType(
    {
        "promise-configure": Pipeline("dependencies"),
        "resource-configure": Pipeline("render"),
        "resource-delete": Pipeline("cleanup"),
    }
)


class Definition(NamedTuple):
    """A promise: its API (schemas/<name>), its pipelines and the functions that render."""

    name: str
    version: str
    description: str
    configure: Callable[[Request, Mapping[str, Any]], Result]
    delete: Callable[[Request, Mapping[str, Any]], Result]
    configure_promise: Callable[[Mapping[str, Any]], Result] | None = None
    # Cross-field rules the schema states in CEL, re-checked here: Kratix re-runs old objects too.
    check: Callable[[Request], None] = lambda request: None
    pipelines: Mapping[str, Pipeline] = STANDARD_PIPELINES
    # Promises that must be installed first (name, version): Kratix keeps this one Unavailable until then.
    required_promises: tuple[tuple[str, str], ...] = ()
    # spec.destinationSelectors: labels every Destination of this promise's Works must carry,
    # its dependencies' and its requests' alike (they win over a pipeline's on conflicts).
    destination_selectors: tuple[Mapping[str, str], ...] = ()

    @property
    def api(self) -> schema.Api:
        return schema.load_api(self.name)


def parse_request(definition: Definition, obj: Mapping[str, Any], *, strict: bool = True) -> Request:
    """Default and validate a request as the API server would, then re-check the CEL rules.

    strict=False (delete) only needs the identity: a request that was valid when created
    must still be deletable after the schema tightened.
    """
    api = definition.api
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise RequestInvalid("metadata", "is required")
    name = metadata.get("name")
    if not isinstance(name, str) or (strict and not DNS_LABEL.match(name)):
        raise RequestInvalid("metadata.name", f"must be a DNS-1123 label (lowercase letters, digits, '-') (got {schema.describe(name)})")
    namespace = metadata.get("namespace") or "default"
    if not isinstance(namespace, str) or (strict and not DNS_LABEL.match(namespace)):
        raise RequestInvalid("metadata.namespace", f"must be a DNS-1123 label (got {schema.describe(namespace)})")
    if strict and len(name) > api.name_max_length:
        raise RequestInvalid("metadata.name", f"must be at most {api.name_max_length} characters long (got {len(name)})")
    if strict and obj.get("apiVersion") != api.api_version:
        raise RequestInvalid("apiVersion", f"must be {api.api_version} (got {schema.describe(obj.get('apiVersion'))})")
    if strict and obj.get("kind") != api.kind:
        raise RequestInvalid("kind", f"must be {api.kind} (got {schema.describe(obj.get('kind'))})")
    spec_schema = api.schema["properties"]["spec"]
    raw_spec = obj.get("spec")
    if raw_spec is None and strict and spec_schema.get("required"):
        raise RequestInvalid("spec", f"is required (with {', '.join(spec_schema['required'])})")
    if raw_spec is None:
        raw_spec = {}
    spec = schema.apply_defaults(spec_schema, raw_spec)
    if strict:
        schema.validate(spec_schema, spec, "spec")
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    generation = metadata.get("generation", 1)
    request = Request(name, namespace, spec, status, generation if isinstance(generation, int) else 1, dict(obj))
    if strict:
        definition.check(request)
    return request


def condition(request: Request, type_: str, *, ok: bool, reason: str, message: str) -> dict[str, Any]:
    """A condition with all five fields; its transition time moves only when its status does."""
    status = "True" if ok else "False"
    previous = request.condition(type_)
    if previous.get("status") == status and previous.get("lastTransitionTime"):
        since = previous["lastTransitionTime"]
    else:
        since = now()
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": since}


def now() -> str:
    """RFC 3339 UTC time; SOURCE_DATE_EPOCH pins it, for reproducible runs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
