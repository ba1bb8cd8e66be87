"""The Kratix pipeline contract: what a pipeline reads and writes, and the env Kratix sets.

Only PyYAML is imported: kratix-sdk pulls in the kubernetes client at import time, which
costs about 2 s of CPU under Kratix's default 200m limit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import yaml

from promisekit.errors import ContractError
from promisekit.yamlio import dump_one


DEFAULT_ROOT = "/kratix"
# Tests and the local runner move the whole /kratix tree; Kratix itself never sets this.
ROOT_ENV = "KRATIX_ROOT"

WORKFLOW_TYPES = ("promise", "resource")
WORKFLOW_ACTIONS = ("configure", "delete")


class Workflow(NamedTuple):
    """The KRATIX_* environment of one pipeline container."""

    type: str
    action: str
    promise_name: str
    pipeline_name: str
    object_name: str
    object_namespace: str
    object_kind: str = ""
    object_group: str = ""
    object_version: str = ""
    crd_plural: str = ""
    dry_run: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Workflow:
        env = os.environ if env is None else env
        wtype = env.get("KRATIX_WORKFLOW_TYPE", "")
        action = env.get("KRATIX_WORKFLOW_ACTION", "")
        if wtype not in WORKFLOW_TYPES:
            raise ContractError(f"KRATIX_WORKFLOW_TYPE: must be one of promise, resource (got {wtype!r})")
        if action not in WORKFLOW_ACTIONS:
            raise ContractError(f"KRATIX_WORKFLOW_ACTION: must be one of configure, delete (got {action!r})")
        return cls(
            type=wtype,
            action=action,
            promise_name=env.get("KRATIX_PROMISE_NAME", ""),
            pipeline_name=env.get("KRATIX_PIPELINE_NAME", ""),
            object_name=env.get("KRATIX_OBJECT_NAME", ""),
            object_namespace=env.get("KRATIX_OBJECT_NAMESPACE", ""),
            object_kind=env.get("KRATIX_OBJECT_KIND", ""),
            object_group=env.get("KRATIX_OBJECT_GROUP", ""),
            object_version=env.get("KRATIX_OBJECT_VERSION", ""),
            crd_plural=env.get("KRATIX_CRD_PLURAL", ""),
            dry_run=env.get("KRATIX_DRY_RUN", "") == "true",
        )


class Selector(NamedTuple):
    """One entry of destination-selectors.yaml; an empty directory means the output root."""

    match_labels: dict[str, str]
    directory: str = ""

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"directory": self.directory} if self.directory else {}
        entry["matchLabels"] = dict(sorted(self.match_labels.items()))
        return entry


class WorkflowControl(NamedTuple):
    """workflow-control.yaml: pause the workflow, or ask Kratix to run it again later."""

    suspend: bool = False
    retry_after: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.suspend:
            data["suspend"] = True
        if self.retry_after:
            data["retryAfter"] = self.retry_after
        if self.message:
            data["message"] = self.message
        return data


class Result:
    """Everything one pipeline run produces; written only once it is complete."""

    __slots__ = ("files", "status", "selectors", "control")

    def __init__(
        self,
        files: dict[str, str] | None = None,
        status: dict[str, Any] | None = None,
        selectors: list[Selector] | None = None,
        control: WorkflowControl | None = None,
    ) -> None:
        self.files = files or {}
        self.status = status or {}
        self.selectors = selectors or []
        self.control = control

    def __repr__(self) -> str:
        return f"Result(files={sorted(self.files)}, status={self.status!r}, selectors={self.selectors!r}, control={self.control!r})"


class Paths(NamedTuple):
    """The three directories of the contract."""

    input: Path
    output: Path
    metadata: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if env is None else env
        root = Path(env.get(ROOT_ENV, DEFAULT_ROOT))
        return cls(root / "input", root / "output", root / "metadata")

    @property
    def object_file(self) -> Path:
        return self.input / "object.yaml"


def read_object(paths: Paths) -> dict[str, Any]:
    """Read /kratix/input/object.yaml: the request (with its status), or the Promise."""
    try:
        text = paths.object_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{paths.object_file}: not found (Kratix writes it before the pipeline runs)") from None
    try:
        obj = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        raise ContractError(f"{paths.object_file}: not YAML ({_first_line(err)})") from None
    if not isinstance(obj, dict):
        raise ContractError(f"{paths.object_file}: must hold one object (got {type(obj).__name__})")
    return obj


def write_result(paths: Paths, result: Result, *, with_output: bool) -> None:
    """Write output files, status, selectors and workflow control.

    Every file is staged beside its destination, then moved into place, so a crash
    mid-write never leaves half a manifest for the work-writer to pick up.
    """
    if "kratix" in result.status:
        raise ContractError("status.kratix: reserved for Kratix; a pipeline that writes it fails")
    if with_output:
        for relative in result.files:
            _check_relative(relative)
        for relative, content in sorted(result.files.items()):
            _write_atomic(paths.output / relative, content)
        if result.selectors:
            _write_atomic(
                paths.metadata / "destination-selectors.yaml",
                dump_one([s.to_dict() for s in result.selectors]),
            )
    _write_atomic(paths.metadata / "status.yaml", dump_one(result.status))
    if result.control is not None and result.control.to_dict():
        _write_atomic(paths.metadata / "workflow-control.yaml", dump_one(result.control.to_dict()))


def write_failure(paths: Paths, message: str) -> None:
    """Report a failed run in status.yaml and leave nothing in /kratix/output."""
    import shutil  # only on the error path: it costs a tenth of a cold start

    if paths.output.is_dir():
        for child in paths.output.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    _write_atomic(paths.metadata / "status.yaml", dump_one({"message": message}))


def _check_relative(relative: str) -> None:
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise ContractError(f"output file {relative!r}: must be a relative path inside /kratix/output")


def _write_atomic(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    staging.write_text(content, encoding="utf-8")
    os.replace(staging, target)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_output(paths: Paths) -> dict[str, str]:
    """Every file under /kratix/output, by path relative to it."""
    if not paths.output.is_dir():
        return {}
    return {
        p.relative_to(paths.output).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(paths.output.rglob("*"))
        if p.is_file() and not p.name.endswith(".partial")
    }


def read_status(paths: Paths) -> dict[str, Any]:
    """status.yaml as written by the pipeline; a missing file reads as no status."""
    data = _read_metadata(paths, "status.yaml")
    return data if isinstance(data, dict) else {}


def read_selectors(paths: Paths) -> list[Selector]:
    """destination-selectors.yaml; an entry without directory (or with "" or ".") is the root."""
    data = _read_metadata(paths, "destination-selectors.yaml") or []
    if not isinstance(data, list):
        raise ContractError("destination-selectors.yaml: must be a list")
    selectors = []
    for index, entry in enumerate(data):
        labels = entry.get("matchLabels") if isinstance(entry, dict) else None
        if not labels:
            raise ContractError(f"destination-selectors.yaml[{index}].matchLabels: must not be empty")
        directory = str(entry.get("directory") or "")
        if "/" in directory:
            raise ContractError(f"destination-selectors.yaml[{index}].directory: must be a top-level directory")
        selectors.append(Selector(match_labels={str(k): str(v) for k, v in labels.items()}, directory="" if directory == "." else directory))
    return selectors


def read_workflow_control(paths: Paths) -> WorkflowControl:
    data = _read_metadata(paths, "workflow-control.yaml") or {}
    if not isinstance(data, dict):
        raise ContractError("workflow-control.yaml: must be a mapping")
    return WorkflowControl(suspend=bool(data.get("suspend", False)), retry_after=str(data.get("retryAfter") or ""), message=str(data.get("message") or ""))


def _read_metadata(paths: Paths, name: str) -> Any:
    path = paths.metadata / name
    if not path.is_file():
        return None
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as err:
        raise ContractError(f"{path}: not YAML ({_first_line(err)})") from None
