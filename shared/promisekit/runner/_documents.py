"""Reading `-f FILE|DIR` the way kubectl does: every document of every YAML or JSON file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from promisekit.runner._errors import RunnerError
from promisekit.yamlio import load_all

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Document:
    """One object and where it came from, for error messages."""

    obj: dict[str, Any]
    source: str

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def name(self) -> str:
        metadata = self.obj.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""

    @property
    def namespace(self) -> str:
        metadata = self.obj.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        return str(namespace) if namespace else "default"


def manifest_files(path: Path, *, recursive: bool = False) -> list[Path]:
    """The files `-f path` names: the file itself, or a directory's manifests in lexical order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RunnerError(f'the path "{path}" does not exist')
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def read_documents(paths: Iterable[Path], *, recursive: bool = False) -> list[Document]:
    """Every non-empty document, in file order then document order."""
    documents: list[Document] = []
    for path in paths:
        for file in manifest_files(path, recursive=recursive):
            documents.extend(_file_documents(file))
    return documents


def _file_documents(file: Path) -> list[Document]:
    try:
        objects = load_all(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunnerError(f"error parsing {file}: {first}") from None
    documents = []
    for index, obj in enumerate(objects):
        source = f"{file}" if len(objects) == 1 else f"{file}#{index}"
        if not isinstance(obj, dict):
            raise RunnerError(f"error parsing {source}: a document must be an object (got {type(obj).__name__})")
        if not obj.get("apiVersion") or not obj.get("kind"):
            raise RunnerError(f"error validating {source}: apiVersion and kind are required")
        documents.append(Document(obj, source))
    return documents
