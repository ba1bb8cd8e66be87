"""Destinations: where Works land, by label, each with its own path in the state store."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from promisekit import schema
from promisekit.checks import ManifestInvalid, crd_for, validate_manifest
from promisekit.runner._admission import problem_of
from promisekit.runner._documents import read_documents
from promisekit.runner._errors import Rejected, RunnerError
from promisekit.yamlio import dump_one

API_VERSION = "platform.kratix.io/v1alpha1"
KIND = "Destination"
# The label that marks a Destination as the platform cluster itself, where Flux applies
# what Kratix writes, Destinations included (design §8).
PLATFORM_LABELS = {"environment": "platform"}
SUPPORTED_FILEPATH_MODE = "nestedByMetadata"


@dataclass(frozen=True)
class Destination:
    """A registered Destination: its labels and its directory in the state store."""

    name: str
    labels: Mapping[str, str]
    path: str
    strict_match_labels: bool = False
    cleanup: str = "none"
    init_workloads: bool = True
    # Who registered it: the destinations file, `apply`, or a Work that Flux applied.
    source: str = ""

    def matches(self, selector: Mapping[str, str]) -> bool:
        """Kratix's rule: an empty selector reaches every Destination that is not strict."""
        if not selector:
            return not (self.strict_match_labels and self.labels)
        return all(self.labels.get(key) == value for key, value in selector.items())

    @property
    def is_platform(self) -> bool:
        return self.matches(PLATFORM_LABELS)

    def directory(self, state: Path) -> Path:
        return state / self.path if self.path else state

    def label_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "<none>"


def is_destination(obj: Mapping[str, Any]) -> bool:
    return obj.get("apiVersion") == API_VERSION and obj.get("kind") == KIND


def parse_destination(obj: dict[str, Any], source: str) -> Destination:
    """Admit a Destination as the API server would (the vendored CRD), then read it."""
    try:
        validate_manifest(obj)
    except ManifestInvalid as err:
        raise Rejected(f"destinations.platform.kratix.io {_quoted_name(obj)} is invalid: {problem_of(err)}") from None
    crd = crd_for(API_VERSION, KIND)
    assert crd is not None  # vendored with the repository
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec = schema.apply_defaults(spec_schema, obj.get("spec") or {})
    name = obj["metadata"]["name"]
    mode = spec.get("filepath", {}).get("mode", SUPPORTED_FILEPATH_MODE)
    if mode != SUPPORTED_FILEPATH_MODE:
        raise Rejected(f'destinations.platform.kratix.io "{name}": filepath.mode {mode} is not supported by the local runner (only {SUPPORTED_FILEPATH_MODE})')
    return Destination(
        name=name,
        labels=dict(sorted((obj["metadata"].get("labels") or {}).items())),
        path=_normalised_path(spec.get("path", name), name),
        strict_match_labels=bool(spec.get("strictMatchLabels", False)),
        cleanup=spec.get("cleanup", "none"),
        init_workloads=bool(spec.get("initWorkloads", {}).get("enabled", True)),
        source=source,
    )


def load_file(path: Path) -> list[Destination]:
    """The Destinations a file declares; two with one name are refused, as the API server would."""
    try:
        documents = read_documents([path])
    except RunnerError as err:
        raise RunnerError(f"destinations file: {err}") from None
    destinations: dict[str, Destination] = {}
    for document in documents:
        if not is_destination(document.obj):
            raise RunnerError(f"destinations file {document.source}: {document.kind} is not a {API_VERSION} {KIND}")
        destination = parse_destination(document.obj, str(path))
        if destination.name in destinations:
            raise RunnerError(f'destinations file {path}: Destination "{destination.name}" is declared twice')
        destinations[destination.name] = destination
    return list(destinations.values())


def canary_files() -> dict[str, str]:
    """What Kratix writes into a new Destination so Flux has something to read at once."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kratix-worker-system"}}
    config_map = {
        "apiVersion": "v1",
        "data": {"canary": "the confirms your infrastructure is reading from Kratix state stores"},
        "kind": "ConfigMap",
        "metadata": {"name": "kratix-info", "namespace": "kratix-worker-system"},
    }
    return {
        "dependencies/kratix-canary-namespace.yaml": dump_one(namespace),
        "resources/kratix-canary-configmap.yaml": dump_one(config_map),
    }


def _normalised_path(path: str, name: str) -> str:
    """'' is the state store's root ("." and "/" in Kratix); '..' may not climb out of it."""
    cleaned = posixpath.normpath(path.strip("/")) if path.strip("/") else "."
    if cleaned == ".":
        return ""
    if cleaned.startswith("..") or posixpath.isabs(cleaned):
        raise Rejected(f'destinations.platform.kratix.io "{name}" is invalid: spec.path: must stay inside the state store (got "{path}")')
    return cleaned


def _quoted_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f'"{name}"' if name else "<unnamed>"
