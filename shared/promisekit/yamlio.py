"""Deterministic YAML: the same data always gives the same bytes."""

from __future__ import annotations

from typing import Any, Iterable

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_all(text: str) -> list[Any]:
    """Every non-empty document of a YAML stream."""
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]


def load_one(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


def dump_one(data: Any) -> str:
    # Key order is the template's order (apiVersion, kind, metadata...), so it is not sorted.
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=True)


def dump_documents(documents: Iterable[Any]) -> str:
    return yaml.dump_all(
        documents, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=True
    )
