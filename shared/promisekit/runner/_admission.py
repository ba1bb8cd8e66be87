"""Admission: what Kratix's Promise webhook and the API server accept (kratix.md §1).

A Promise is checked against the vendored Promise CRD and the webhook's Pipeline rules;
its spec.api becomes a registered API, changed the way Kratix changes it. A request is
defaulted and validated from that API's schema, CEL rules included, and refused with the
one line kubectl would print.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Mapping

from promisekit import schema
from promisekit.checks import ManifestInvalid, validate_manifest, validate_with_crd
from promisekit.errors import RequestInvalid
from promisekit.promise_rules import webhook_violations
from promisekit.runner._errors import Rejected
from promisekit.runner._workflow import go_duration_seconds

PROMISE_API_VERSION = "platform.kratix.io/v1alpha1"
PROMISE_KIND = "Promise"
PROMISE_RESOURCE = "promises.platform.kratix.io"
# Kratix forces this on every promise API: object names feed Job and Work names.
MAX_REQUEST_NAME = 63
MIN_RECONCILIATION_S = 60
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Api:
    """A Promise's API as registered: its names and the CRD requests validate against."""

    promise: str
    group: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    served: tuple[str, ...]
    crd: Mapping[str, Any]

    @property
    def resource(self) -> str:
        """kubectl's name for the type: devenvironments.platform.homelab.io."""
        return f"{self.plural}.{self.group}"

    def ref(self, name: str) -> str:
        """kubectl apply's name for one object: devenvironment.platform.homelab.io/x."""
        return f"{self.kind.lower()}.{self.group}/{name}"

    def quoted(self, name: str) -> str:
        return f'{self.resource} "{name}"'

    def answers_to(self, text: str) -> bool:
        """Whether `kubectl get TEXT` means this type (kind, plural, singular, short name, with group)."""
        names = {self.kind.lower(), self.plural, self.singular, *self.short_names}
        lowered = text.lower()
        return lowered in names or lowered in {f"{n}.{self.group}" for n in names}

    def version_of(self, api_version: str) -> str:
        return api_version.rpartition("/")[2]

    def schema_for(self, version: str) -> dict[str, Any]:
        for entry in self.crd["spec"]["versions"]:
            if entry["name"] == version:
                return dict(entry["schema"]["openAPIV3Schema"])
        raise KeyError(version)


def is_promise(obj: Mapping[str, Any]) -> bool:
    return obj.get("apiVersion") == PROMISE_API_VERSION and obj.get("kind") == PROMISE_KIND


def admit_promise(promise: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Raise Rejected with the first rule the Promise breaks, as the webhook would."""
    name = (promise.get("metadata") or {}).get("name", "")
    where = f'{PROMISE_RESOURCE} "{name}" is invalid'
    try:
        validate_manifest(promise)
    except ManifestInvalid as err:
        raise Rejected(f"{where}: {problem_of(err)}") from None
    spec = promise.get("spec") or {}
    problem = _api_problem(spec.get("api")) or _workflows_problem(name, spec.get("workflows") or {})
    if not problem and previous is not None:
        problem = _immutability_problem((previous.get("spec") or {}).get("api"), spec.get("api"))
    if problem:
        raise Rejected(f"{where}: {problem}")


def _api_problem(api: Any) -> str:
    if api is None:
        return ""
    if api.get("apiVersion") != "apiextensions.k8s.io/v1" or api.get("kind") != "CustomResourceDefinition":
        return "spec.api: must be an apiextensions.k8s.io/v1 CustomResourceDefinition"
    try:
        validate_manifest(api)
    except ManifestInvalid as err:
        return f"spec.api: {problem_of(err)}"
    crd_spec = api["spec"]
    if crd_spec.get("scope") != "Namespaced":
        return "spec.api: promise api needs to be namespace scoped"
    if not any(v.get("served") and v.get("schema", {}).get("openAPIV3Schema") for v in crd_spec.get("versions", [])):
        return "spec.api.spec.versions: needs a served version with a schema"
    return ""


def _workflows_problem(name: str, workflows: Mapping[str, Any]) -> str:
    interval = (workflows.get("config") or {}).get("reconciliationInterval")
    if interval:
        try:
            seconds = go_duration_seconds(str(interval))
        except ValueError as err:
            return f"spec.workflows.config.reconciliationInterval: {err}"
        if seconds < MIN_RECONCILIATION_S:
            return "spec.workflows.config.reconciliationInterval: must be at least 1m"
    return next(iter(webhook_violations({"metadata": {"name": name}, "spec": {"workflows": workflows}})), "")


def _immutability_problem(before: Any, after: Any) -> str:
    if before is None:
        return ""
    if after is None:
        return "spec.api: cannot be removed once set"
    for path, old, new in (
        ("spec.api.metadata.name", before["metadata"]["name"], after["metadata"]["name"]),
        ("spec.api.spec.group", before["spec"]["group"], after["spec"]["group"]),
        ("spec.api.spec.names", before["spec"]["names"], after["spec"]["names"]),
    ):
        if old != new:
            return f"{path}: field is immutable"
    return ""


def registered_api(promise: Mapping[str, Any]) -> Api | None:
    """The CRD Kratix creates from spec.api: status open to any key, name capped at 63."""
    source = (promise.get("spec") or {}).get("api")
    if source is None:
        return None
    crd = copy.deepcopy(source)
    for version in crd["spec"]["versions"]:
        openapi = version.setdefault("schema", {}).setdefault("openAPIV3Schema", {"type": "object"})
        openapi.setdefault("properties", {})["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        version["subresources"] = {"status": {}}
        if not version.get("additionalPrinterColumns"):
            version["additionalPrinterColumns"] = [
                {"name": "message", "type": "string", "jsonPath": ".status.message"},
                {"name": "status", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Reconciled")].message'},
            ]
    crd.setdefault("metadata", {}).setdefault("labels", {})["kratix.io/promise-name"] = promise["metadata"]["name"]
    names = crd["spec"]["names"]
    return Api(
        promise=promise["metadata"]["name"],
        group=crd["spec"]["group"],
        kind=names["kind"],
        plural=names.get("plural", names["kind"].lower() + "s"),
        singular=names.get("singular", names["kind"].lower()),
        short_names=tuple(names.get("shortNames", ())),
        served=tuple(v["name"] for v in crd["spec"]["versions"] if v.get("served")),
        crd=crd,
    )


def admit_request(api: Api, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object the API server would store: defaulted, validated, status dropped."""
    version = api.version_of(str(obj.get("apiVersion", "")))
    if version not in api.served:
        raise Rejected(f'no matches for kind "{api.kind}" in version "{obj.get("apiVersion")}"')
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise Rejected(f"{api.resource} is invalid: metadata.name: Required value")
    where = f"{api.quoted(name)} is invalid"
    if len(name) > MAX_REQUEST_NAME:
        raise Rejected(f"{where}: metadata.name: must be no more than {MAX_REQUEST_NAME} characters (got {len(name)})")
    if not _DNS_SUBDOMAIN.match(name):
        raise Rejected(f"{where}: metadata.name: must be a lowercase RFC 1123 subdomain (got {name!r})")
    openapi = api.schema_for(version)
    candidate: dict[str, Any] = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {k: copy.deepcopy(v) for k, v in metadata.items() if k in ("name", "namespace", "labels", "annotations")},
    }
    candidate["metadata"]["namespace"] = metadata.get("namespace") or "default"
    for key, value in obj.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            candidate[key] = copy.deepcopy(value)
    properties = openapi.get("properties", {})
    try:
        for key, sub in properties.items():
            if key in ("metadata", "status"):
                continue
            if key not in candidate and "default" in sub:
                candidate[key] = copy.deepcopy(sub["default"])
            if key in candidate:
                candidate[key] = schema.apply_defaults(sub, candidate[key])
                schema.validate(sub, candidate[key], key)
    except RequestInvalid as err:
        raise Rejected(f"{where}: {err}") from None
    try:
        validate_with_crd(candidate, dict(api.crd))
    except ManifestInvalid as err:
        raise Rejected(f"{where}: {problem_of(err)}") from None
    return candidate


def problem_of(err: ManifestInvalid) -> str:
    """ManifestInvalid reads '<Kind>/<name>: $.path: problem'; kubectl reads 'path: problem'."""
    _, _, rest = str(err).partition(": ")
    if rest.startswith("$: "):
        return rest[3:]
    return rest.removeprefix("$.") or str(err)
