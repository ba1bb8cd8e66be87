"""Engines: how one pipeline container runs, with the /kratix tree at `root`.

subprocess: the container's `python3 -m MODULE ARGS` as a fresh interpreter (the same code
path as the image); inprocess: MODULE's `main(argv, env=...)` called here, for speed;
docker: the built image itself, run as Kratix's Job runs it (_docker.docker_run_argv).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from promisekit.runner._docker import docker_run_argv
from promisekit.runner._errors import EngineUnavailable

REPO_ROOT = Path(__file__).resolve().parents[3]
ENGINE_NAMES = ("subprocess", "inprocess", "docker")
CONTAINER_TIMEOUT_S = 600
_PYTHON_NAMES = ("python", "python3")


@dataclass(frozen=True)
class Container:
    """One container of a Pipeline, as the Promise declares it."""

    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    # The container as promise.yaml declares it: the docker engine applies its securityContext and limits.
    manifest: Mapping[str, Any] = field(default_factory=dict)

    def python_module(self) -> tuple[str, list[str]]:
        """(module, argv) of a `python3 [-u] -m MODULE ARGS` command, or EngineUnavailable."""
        words = [*self.command, *self.args]
        if words and Path(words[0]).name.startswith(_PYTHON_NAMES):
            rest = words[1:]
            while rest and rest[0].startswith("-") and rest[0] != "-m":
                rest = rest[1:]
            if len(rest) >= 2 and rest[0] == "-m":
                return rest[1], rest[2:]
        shown = " ".join(words) or "<the image's entrypoint>"
        raise EngineUnavailable(f"container {self.name}: this engine runs only `python3 -m MODULE` commands (got {shown}); use --engine docker")


@dataclass(frozen=True)
class ContainerExit:
    code: int
    stderr: str

    def last_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1].removeprefix("error: ") if lines else f"exit code {self.code}"


class Engine(Protocol):
    name: str
    # Whether independent requests may run at once (separate processes do not share a GIL).
    parallel: bool

    def run(self, container: Container, root: Path, env: Mapping[str, str]) -> ContainerExit: ...


def base_env() -> dict[str, str]:
    """What every pipeline process gets besides its container env and the KRATIX_* vars."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    # A pinned clock makes the pipelines' status timestamps reproducible, as in the tests.
    if "SOURCE_DATE_EPOCH" in os.environ:
        env["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    return env


@dataclass
class SubprocessEngine:
    """`python3 -m MODULE` becomes this interpreter with PYTHONPATH=shared:. as in the image."""

    python_path: Sequence[Path] = ()
    name: str = "subprocess"
    parallel: bool = True

    def run(self, container: Container, root: Path, env: Mapping[str, str]) -> ContainerExit:
        module, argv = container.python_module()
        paths = [REPO_ROOT / "shared", REPO_ROOT, *self.python_path]
        full_env = {**base_env(), **env, "KRATIX_ROOT": str(root), "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
        try:
            done = subprocess.run(
                [sys.executable, "-m", module, *argv],
                env=full_env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=CONTAINER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return ContainerExit(124, f"timed out after {CONTAINER_TIMEOUT_S} s")
        return ContainerExit(done.returncode, done.stderr)


@dataclass
class InProcessEngine:
    """MODULE's `main(argv, env=...)` in this process: promisekit's is promisekit.entrypoint.main."""

    name: str = "inprocess"
    # One interpreter, one stderr: containers run one at a time.
    parallel: bool = False

    def run(self, container: Container, root: Path, env: Mapping[str, str]) -> ContainerExit:
        module, argv = container.python_module()
        main = _module_main(module)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv, env={**base_env(), **env, "KRATIX_ROOT": str(root)})
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception as err:  # a crash in a container is a failed pipeline, not a crashed runner
                print(f"{type(err).__name__}: {err}", file=sys.stderr)
                code = 1
        return ContainerExit(code, stderr.getvalue())


def _module_main(module: str) -> Callable[..., int]:
    if module == "promisekit":
        from promisekit.entrypoint import main

        return main
    try:
        loaded = importlib.import_module(module)
    except ImportError as err:
        raise EngineUnavailable(f"module {module}: cannot be imported in this process ({err})") from None
    found: object = getattr(loaded, "main", None)
    if not callable(found):
        raise EngineUnavailable(f"module {module}: the inprocess engine needs a main(argv, env) function")
    return found


@dataclass
class DockerEngine:
    """`docker run` of the container's image, read-only, as the pipeline user, /kratix mounted."""

    name: str = "docker"
    parallel: bool = True

    def run(self, container: Container, root: Path, env: Mapping[str, str]) -> ContainerExit:
        if not container.image:
            raise EngineUnavailable(f"container {container.name}: no image to run")
        # emptyDirs are world-writable; the pipeline user is not the invoking user.
        for writable in (root / "output", root / "metadata"):
            writable.chmod(0o777)
        argv = docker_run_argv(container.manifest, env, root)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=CONTAINER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return ContainerExit(124, f"timed out after {CONTAINER_TIMEOUT_S} s")
        return ContainerExit(done.returncode, done.stderr)

    def check_available(self) -> None:
        """Fail at once, in one line, when this machine cannot run containers."""
        if shutil.which("docker") is None:
            raise EngineUnavailable("--engine docker: docker is not installed (no docker on PATH)")
        probe = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            reason = ContainerExit(probe.returncode, probe.stderr).last_line()
            raise EngineUnavailable(f"--engine docker: the docker daemon is not reachable ({reason})")


def make_engine(name: str, *, python_path: Sequence[Path] = ()) -> Engine:
    if name == "subprocess":
        return SubprocessEngine(python_path=python_path)
    if name == "inprocess":
        return InProcessEngine()
    if name == "docker":
        engine = DockerEngine()
        engine.check_available()
        return engine
    raise EngineUnavailable(f"--engine {name}: must be one of {', '.join(ENGINE_NAMES)}")
