"""validate_manifest / validate_with_crd: would the API server accept this object (strict fields)?"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from promisekit.checks._builtin import BUILTIN_GROUP, builtin_validator
from promisekit.checks._chaos_webhook import CHAOS_GROUP, webhook_violations
from promisekit.checks._crds import vendored_crd
from promisekit.checks._strict import StrictSchema, builtin_name_error, common_metadata_error, compile_schema, describe
from promisekit.errors import PromiseKitError


class ManifestInvalid(PromiseKitError):
    """A rendered object the API server would reject: '<Kind>/<name>: <json path>: <problem>'."""


def label_of(obj: Any) -> str:
    """'<Kind>/<name>', the prefix of every message the checks return."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{kind or '<no kind>'}/{name or '<no name>'}"


def _type_of(obj: Any, label: str) -> tuple[str, str, str, str]:
    """(apiVersion, group, version, kind), or ManifestInvalid when they are missing."""
    if not isinstance(obj, dict):
        raise ManifestInvalid(f"{label}: $: a manifest must be a mapping, not {type(obj).__name__}")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise ManifestInvalid(f"{label}: $.{field}: required (a non-empty string)")
    api_version, kind = obj["apiVersion"], obj["kind"]
    group, _, version = api_version.rpartition("/")
    return api_version, group, version, kind


def _raise_if(label: str, error: ValidationError | None) -> None:
    if error is not None:
        raise ManifestInvalid(f"{label}: {describe(error)}")


def _served_schema(label: str, crd: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of the object's version; only served versions are accepted by a cluster."""
    version = api_version.rpartition("/")[2]
    versions = {entry["name"]: entry for entry in crd["spec"]["versions"]}
    served = ", ".join(name for name, entry in versions.items() if entry.get("served") is True) or "none"
    crd_name = crd.get("metadata", {}).get("name", kind)
    entry = versions.get(version)
    if entry is None:
        raise ManifestInvalid(f"{label}: $.apiVersion: no schema for {api_version}/{kind} (CRD {crd_name} serves {served})")
    if entry.get("served") is not True:
        raise ManifestInvalid(f"{label}: $.apiVersion: {api_version} is not served by CRD {crd_name} (served: {served})")
    schema = entry.get("schema", {}).get("openAPIV3Schema")
    if not isinstance(schema, dict):
        raise ManifestInvalid(f"{label}: $.apiVersion: no schema for {api_version}/{kind} (CRD {crd_name} has none)")
    return schema


@lru_cache(maxsize=None)
def _vendored_schema(group: str, kind: str, version: str) -> StrictSchema:
    crd = vendored_crd(group, kind)
    assert crd is not None  # only called after the lookup succeeded
    entry = next(entry for entry in crd["spec"]["versions"] if entry["name"] == version)
    return compile_schema(entry["schema"]["openAPIV3Schema"])


@lru_cache(maxsize=64)
def _given_schema(openapi_json: str) -> StrictSchema:
    # Keyed by the schema's text: a Promise's CRD dict is rebuilt per call, so identity would never hit.
    return compile_schema(json.loads(openapi_json))


def validate_manifest(obj: dict[str, Any]) -> None:
    """Raise ManifestInvalid unless a Kubernetes 1.33 API server with the vendored CRDs would accept obj."""
    label = label_of(obj)
    api_version, group, version, kind = _type_of(obj, label)
    crd = vendored_crd(group, kind)
    if crd is not None:
        _served_schema(label, crd, api_version, kind)
        _raise_if(label, _vendored_schema(group, kind, version).first_error(obj))
        if group == CHAOS_GROUP:
            # Chaos Mesh's admission webhook refuses more than its schemas do (failurePolicy: Fail).
            problems = webhook_violations(obj)
            if problems:
                raise ManifestInvalid(f"{label}: {problems[0]}")
        return
    validator = builtin_validator(api_version, kind) if BUILTIN_GROUP.fullmatch(group) else None
    if validator is None:
        raise ManifestInvalid(f"{label}: $: no schema for {api_version}/{kind}")
    # kubernetes-validate checks ObjectMeta's shape but not label syntax, names or namespace names.
    _raise_if(label, best_match(validator.iter_errors(obj)))
    _raise_if(label, common_metadata_error(obj))
    _raise_if(label, builtin_name_error(obj))


def validate_with_crd(obj: dict[str, Any], crd: dict[str, Any]) -> None:
    """Same strict check against a given CRD (a Promise's spec.api) instead of the vendored ones."""
    label = label_of(obj)
    api_version, group, _, kind = _type_of(obj, label)
    spec = crd.get("spec", {})
    defined = f"{spec.get('group')}/{spec.get('names', {}).get('kind')}"
    if defined != f"{group}/{kind}":
        raise ManifestInvalid(f"{label}: $.kind: the CRD defines {defined}, not {group}/{kind}")
    schema = _served_schema(label, crd, api_version, kind)
    _raise_if(label, _given_schema(json.dumps(schema, sort_keys=True)).first_error(obj))
