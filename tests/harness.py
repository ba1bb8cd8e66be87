"""Run promises the way Kratix does, for every test: the real entrypoint, the real env."""

from __future__ import annotations

import copy
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from promisekit import entrypoint
from promisekit.build import promise_names

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
# Pinned so status timestamps, and so every run, are reproducible.
SOURCE_DATE_EPOCH = "1767225600"


@lru_cache(maxsize=None)
def promise_document(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "promises" / name / "promise.yaml").read_text(encoding="utf-8"))


def containers(name: str, wtype: str, action: str) -> list[dict[str, Any]]:
    """The containers Kratix runs for that workflow, pipeline after pipeline."""
    pipelines = promise_document(name)["spec"].get("workflows", {}).get(wtype, {}).get(action, [])
    if action == "delete":
        pipelines = pipelines[:1]  # Kratix runs only the first delete pipeline
    return [c for p in pipelines for c in p["spec"]["containers"]]


def pipeline_names(name: str, wtype: str, action: str) -> list[str]:
    return [p["metadata"]["name"] for p in promise_document(name)["spec"].get("workflows", {}).get(wtype, {}).get(action, [])]


def kratix_env(name: str, container: dict[str, Any], obj: dict[str, Any], wtype: str, action: str, root: Path) -> dict[str, str]:
    """What Kratix sets on a pipeline container (research kratix.md §2.3), plus the container's own env."""
    api = promise_document(name)["spec"]["api"]
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "KRATIX_ROOT": str(root),
        "KRATIX_WORKFLOW_TYPE": wtype,
        "KRATIX_WORKFLOW_ACTION": action,
        "KRATIX_PROMISE_NAME": name,
        "KRATIX_PIPELINE_NAME": pipeline_names(name, wtype, action)[0],
        "KRATIX_OBJECT_KIND": obj.get("kind", ""),
        "KRATIX_OBJECT_GROUP": group,
        "KRATIX_OBJECT_VERSION": version,
        "KRATIX_OBJECT_NAME": obj.get("metadata", {}).get("name", ""),
        "KRATIX_OBJECT_NAMESPACE": obj.get("metadata", {}).get("namespace", "") if wtype == "resource" else "",
        "KRATIX_CRD_PLURAL": api["spec"]["names"]["plural"] if wtype == "resource" else "promises",
        "KRATIX_CLUSTER_SCOPED": "true" if wtype == "promise" else "false",
    }
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


@dataclass
class Run:
    """What one pipeline run left in the /kratix tree."""

    returncode: int
    stderr: str
    files: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    selectors: list[dict[str, Any]] | None = None
    control: dict[str, Any] | None = None

    def objects(self) -> list[dict[str, Any]]:
        return [doc for _, text in sorted(self.files.items()) for doc in yaml.safe_load_all(text) if doc]


def prepare(root: Path, obj: dict[str, Any]) -> None:
    for sub in ("input", "output", "metadata"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "input" / "object.yaml").write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")


def collect(root: Path, returncode: int, stderr: str) -> Run:
    output = root / "output"
    metadata = root / "metadata"
    files = {str(p.relative_to(output)): p.read_text(encoding="utf-8") for p in sorted(output.rglob("*")) if p.is_file()}

    def read(name: str) -> Any:
        path = metadata / name
        return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None

    return Run(returncode, stderr, files, read("status.yaml") or {}, read("destination-selectors.yaml"), read("workflow-control.yaml"))


def run_subprocess(name: str, obj: dict[str, Any], wtype: str, action: str, root: Path) -> Run:
    """The real entrypoint as a fresh process, exactly as the container's command runs it."""
    container = containers(name, wtype, action)[0]
    prepare(root, obj)
    command = [sys.executable if part == "python3" else part for part in container["command"]] + container["args"]
    done = subprocess.run(command, env=kratix_env(name, container, obj, wtype, action, root), capture_output=True, text=True, timeout=60)
    return collect(root, done.returncode, done.stderr)


def run_inprocess(name: str, obj: dict[str, Any], wtype: str, action: str, root: Path) -> Run:
    """The same entrypoint called in this process: for the thousands of property-based cases."""
    container = containers(name, wtype, action)[0]
    prepare(root, obj)
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = entrypoint.main(container["args"], env=kratix_env(name, container, obj, wtype, action, root))
    return collect(root, code, stderr.getvalue())


def examples(name: str) -> list[Path]:
    """examples/<name>/, and the requests of this promise's kind in examples/platform/ (the
    platform's own: the VClusters that `make demo` registers as Destinations)."""
    kind = promise_document(name)["spec"]["api"]["spec"]["names"]["kind"]
    platform = [p for p in sorted((EXAMPLES / "platform").glob("*.yaml")) if next(yaml.safe_load_all(p.read_text(encoding="utf-8")), {}).get("kind") == kind]
    return sorted((EXAMPLES / name).glob("*.yaml")) + platform


def invalid_examples(name: str) -> list[Path]:
    return sorted((EXAMPLES / name / "invalid").glob("*.yaml"))


def expected_error(path: Path) -> str:
    """The message an invalid example pins, from its `# error: ...` first line."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("# error: "):
        raise AssertionError(f"{path}: first line must be '# error: <the message a user sees>'")
    return first.removeprefix("# error: ")


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


PROMISES = promise_names()


def with_settings(platform: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of the platform settings with some changed: `chaos__maxDuration="30m"` sets chaos.maxDuration."""
    changed = copy.deepcopy(platform)
    for dotted, value in changes.items():
        node = changed
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return changed
