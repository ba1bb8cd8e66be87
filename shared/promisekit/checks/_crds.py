"""The vendored upstream CRDs under schemas/upstream, indexed by (group, kind)."""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from promisekit.errors import PromiseKitError

# shared/promisekit/checks/<module>.py: the repository root is three folders up.
UPSTREAM_DIR = Path(__file__).resolve().parents[3] / "schemas" / "upstream"


_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """Safe loader that reads a bare `=` scalar as a string (controller-gen emits some; PyYAML chokes)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@lru_cache(maxsize=None)
def crd_index() -> dict[tuple[str, str], dict[str, Any]]:
    """Every vendored CRD, parsed once on first use (the big CNPG files make this worth caching)."""
    index: dict[tuple[str, str], dict[str, Any]] = {}
    origin: dict[tuple[str, str], Path] = {}
    for path in sorted(UPSTREAM_DIR.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
            if key in index:
                # Two files for one kind would make the answer depend on file order: refuse instead.
                raise PromiseKitError(f"two vendored CRDs define {key[0]}/{key[1]}: {origin[key]} and {path}")
            index[key] = doc
            origin[key] = path
    return index


def vendored_crd(group: str, kind: str) -> dict[str, Any] | None:
    """The cached CRD itself (callers must not mutate it)."""
    return crd_index().get((group, kind))


def crd_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """A copy of the vendored CRD that defines this apiVersion (served or not) and kind, else None."""
    group, _, version = api_version.rpartition("/")
    crd = vendored_crd(group, kind)
    if crd is None or all(v["name"] != version for v in crd["spec"]["versions"]):
        return None
    return copy.deepcopy(crd)
