"""Built-in Kubernetes kinds, checked against kubernetes-validate's strict v1.33 JSON Schemas.

kubernetes_validate.validate(obj, "1.33.0", strict=True) re-reads a 1.4 MB definitions file on every
call (~12 ms); this builds the same validator from the same files once per (apiVersion, kind).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jsonschema
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.33.0"
_SCHEMAS = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"

# Built-in API groups are the core group "", dot-less groups (apps, batch...) and *.k8s.io.
BUILTIN_GROUP = re.compile(r"[a-z0-9-]*|[a-z0-9.-]+\.k8s\.io")


@lru_cache(maxsize=1)
def _definitions() -> Resource[Any]:
    return Resource.from_contents(json.loads((_SCHEMAS / "_definitions.json").read_text(encoding="utf-8")))


@lru_cache(maxsize=None)
def builtin_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """None when Kubernetes 1.33 has no such apiVersion/kind (removed, misspelt, or not built in)."""
    # kubernetes-validate's file naming: apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1.
    short_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_file = _SCHEMAS / f"{kind.lower()}-{short_version}.json"
    if not schema_file.is_file():
        return None
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    registry: Registry[Any] = _definitions() @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)
