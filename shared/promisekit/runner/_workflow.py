"""One Pipeline run: the /kratix tree, the env Kratix sets, and what the containers leave.

This is what Kratix's Job does: the reader writes object.yaml, the containers run in
order, the work-writer reads /kratix/output with destination-selectors.yaml, and the
status-writer reads status.yaml and workflow-control.yaml (kratix.md §2.2-2.4).
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from promisekit.runner._engine import Container, Engine
from promisekit.runner._errors import EngineUnavailable
from promisekit.yamlio import dump_one, load_one

ROOT_DIRECTORY = "."
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Pipeline:
    """A platform.kratix.io/v1alpha1 Pipeline of a Promise."""

    name: str
    containers: tuple[Container, ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Pipeline:
        containers = []
        for entry in manifest["spec"]["containers"]:
            containers.append(
                Container(
                    name=entry["name"],
                    image=entry.get("image", ""),
                    command=tuple(entry.get("command") or ()),
                    args=tuple(str(a) for a in entry.get("args") or ()),
                    env=_container_env(entry),
                    manifest=dict(entry),
                )
            )
        return cls(manifest["metadata"]["name"], tuple(containers))


def _container_env(entry: Mapping[str, Any]) -> dict[str, str]:
    """Literal env only: valueFrom and envFrom read Secrets and ConfigMaps, which need a cluster."""
    return {item["name"]: str(item["value"]) for item in entry.get("env") or [] if "value" in item}


def unsupported_env(manifest: Mapping[str, Any]) -> str:
    """Why the runner cannot give a container its env, or ''."""
    for entry in manifest["spec"]["containers"]:
        for item in entry.get("env") or []:
            if "valueFrom" in item:
                return f"container {entry['name']}: env {item['name']}: valueFrom needs a cluster; the local runner supports only value"
        if entry.get("envFrom"):
            return f"container {entry['name']}: envFrom needs a cluster; the local runner supports only env values"
    return ""


@dataclass(frozen=True)
class Subject:
    """What a workflow runs for: a Promise, or a resource request of a Promise's API."""

    workflow_type: str  # promise | resource
    promise: str
    kind: str
    group: str
    version: str
    name: str
    namespace: str
    plural: str

    def kratix_env(self, action: str, pipeline: str) -> dict[str, str]:
        """The KRATIX_* variables of every pipeline container (kratix.md §2.3)."""
        return {
            "KRATIX_WORKFLOW_ACTION": action,
            "KRATIX_WORKFLOW_TYPE": self.workflow_type,
            "KRATIX_PROMISE_NAME": self.promise,
            "KRATIX_PIPELINE_NAME": pipeline,
            "KRATIX_OBJECT_KIND": self.kind,
            "KRATIX_OBJECT_GROUP": self.group,
            "KRATIX_OBJECT_VERSION": self.version,
            "KRATIX_OBJECT_NAME": self.name,
            "KRATIX_OBJECT_NAMESPACE": self.namespace,
            "KRATIX_CRD_PLURAL": self.plural,
            "KRATIX_CLUSTER_SCOPED": "true" if self.workflow_type == "promise" else "false",
        }


@dataclass(frozen=True)
class WorkflowSelector:
    """One entry of destination-selectors.yaml; directory '.' is the output root."""

    directory: str
    match_labels: Mapping[str, str]


@dataclass(frozen=True)
class Control:
    """workflow-control.yaml: retryAfter wins over suspend."""

    suspend: bool = False
    retry_after_s: float = 0.0
    retry_after: str = ""
    message: str = ""

    @property
    def stops(self) -> bool:
        return self.suspend or bool(self.retry_after)


@dataclass
class PipelineRun:
    """What one Pipeline left behind; `error` is set when Kratix would mark the Job failed."""

    pipeline: str
    error: str = ""
    status: dict[str, Any] = field(default_factory=dict)
    control: Control = field(default_factory=Control)
    selectors: list[WorkflowSelector] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def run_pipeline(engine: Engine, pipeline: Pipeline, manifest: Mapping[str, Any], obj: Mapping[str, Any], subject: Subject, action: str) -> PipelineRun:
    """Run every container of the Pipeline in order against one fresh /kratix tree."""
    problem = unsupported_env(manifest)
    if problem:
        return PipelineRun(pipeline.name, error=problem)
    with tempfile.TemporaryDirectory(prefix=f"kratix-{subject.promise}-{pipeline.name}-") as tmp:
        root = Path(tmp)
        for sub in ("input", "output", "metadata"):
            (root / sub).mkdir()
        (root / "input" / "object.yaml").write_text(dump_one(dict(obj)), encoding="utf-8")
        env = subject.kratix_env(action, pipeline.name)
        for container in pipeline.containers:
            try:
                exit_ = engine.run(container, root, {**container.env, **env})
            except EngineUnavailable as err:
                return PipelineRun(pipeline.name, error=str(err))
            if exit_.code != 0:
                return PipelineRun(pipeline.name, error=f"container {container.name} exited with code {exit_.code}: {exit_.last_line()}")
        try:
            return _collect(root, pipeline.name, configure=action == "configure")
        except _ContractBroken as err:
            return PipelineRun(pipeline.name, error=str(err))


class _ContractBroken(Exception):
    """A metadata file Kratix's own containers would refuse."""


def _collect(root: Path, pipeline: str, *, configure: bool) -> PipelineRun:
    metadata = root / "metadata"
    status = _read_yaml(metadata / "status.yaml", {})
    if not isinstance(status, dict):
        raise _ContractBroken(f"metadata/status.yaml: must be a map (got {type(status).__name__})")
    if "kratix" in status:
        raise _ContractBroken("metadata/status.yaml: the kratix key is reserved for Kratix")
    run = PipelineRun(pipeline, status=status, control=parse_control(_read_yaml(metadata / "workflow-control.yaml", {})))
    if configure:
        run.selectors = parse_selectors(_read_yaml(metadata / "destination-selectors.yaml", []))
        run.files = _output_files(root / "output")
        for selector in run.selectors:
            if selector.directory != ROOT_DIRECTORY and not (root / "output" / selector.directory).is_dir():
                raise _ContractBroken(f"destination-selectors.yaml: directory {selector.directory} is not in /kratix/output")
    return run


def _read_yaml(path: Path, empty: Any) -> Any:
    if not path.is_file():
        return empty
    try:
        data = load_one(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise _ContractBroken(f"metadata/{path.name}: not YAML ({str(err).splitlines()[0]})") from None
    return empty if data is None else data


def _output_files(output: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(output.rglob("*")):
        if path.is_file():
            relative = path.relative_to(output).as_posix()
            try:
                files[relative] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise _ContractBroken(f"output {relative}: not UTF-8 text (the local runner stores text only)") from None
    return files


def parse_selectors(data: Any) -> list[WorkflowSelector]:
    """Kratix's ParseDestinationSelectors: labels required, no duplicate or nested directories."""
    if not isinstance(data, list):
        raise _ContractBroken("invalid destination-selectors.yaml: must be a list")
    selectors: list[WorkflowSelector] = []
    for index, entry in enumerate(data):
        labels = entry.get("matchLabels") if isinstance(entry, dict) else None
        if not isinstance(labels, dict) or not labels:
            raise _ContractBroken(f"invalid destination-selectors.yaml: entry with index {index} has no selectors")
        directory = posixpath.normpath(str(entry.get("directory") or ".").rstrip("/") or ".")
        if posixpath.basename(directory) != directory and directory != ROOT_DIRECTORY:
            raise _ContractBroken(f"invalid directory in destination-selectors.yaml: {directory}, sub-directories are not allowed")
        if any(s.directory == directory for s in selectors):
            raise _ContractBroken(f"duplicate entries in destination-selectors.yaml: directory {directory}")
        selectors.append(WorkflowSelector(directory, {str(k): str(v) for k, v in sorted(labels.items())}))
    return selectors


def parse_control(data: Any) -> Control:
    if not isinstance(data, dict):
        raise _ContractBroken("metadata/workflow-control.yaml: must be a map")
    retry_after = str(data.get("retryAfter") or "")
    try:
        seconds = go_duration_seconds(retry_after) if retry_after else 0.0
    except ValueError as err:
        raise _ContractBroken(f"workflow-control.yaml: retryAfter: {err}") from None
    return Control(suspend=data.get("suspend") is True, retry_after_s=seconds, retry_after=retry_after, message=str(data.get("message") or ""))


def go_duration_seconds(text: str) -> float:
    """Go's time.ParseDuration for the units Kratix accepts (10m, 1h30m, 90s)."""
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"not a duration like 10m or 1h30m (got {text!r})")
    return total
