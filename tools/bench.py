"""Pipeline benchmarks, measured side by side in one run:

    PYTHONPATH=shared:. .venv/bin/python tools/bench.py [--runs 20] [--image NAME [--image-only]]

prints `BENCH <name> <value> <unit>` lines:

  pipeline_cold_ms       median wall time of the DevEnvironment configure entrypoint
                         (`python -m promisekit devenvironment`) as a fresh process, with a
                         fresh KRATIX_ROOT holding examples/devenvironment/project-alpha.yaml and
                         the env of promises/devenvironment/promise.yaml, as Kratix runs it
  python_floor_ms        the same for `python -c pass`: what no pipeline can go below
  kratix_sdk_import_ms   the same for `python -c "import kratix_sdk"`: what the SDK alone costs
  pipeline_peak_rss_mb   peak RSS of one configure run
  render_1000_s          1000 distinct requests parsed, validated and rendered in one process
  pipeline_image_mb      what the pipeline image adds to its base (with --image; `make bench`
                         builds the image first when docker answers): the image's size less
                         that of the base named by its org.opencontainers.image.base.name label
  pipeline_image_total_mb  the image's whole size, base included

The three cold starts run round-robin, so noise (CPU frequency, page cache, neighbours) hits
them alike. Children run with the interpreter running this script, and like the image they
never write bytecode; one untimed warm-up first lets the tree's __pycache__ exist, as the
image's .pyc files do. Stdlib and the project only. Exits 1 with one line when anything fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMISE = "devenvironment"
EXAMPLE = ROOT / "examples" / PROMISE / "project-alpha.yaml"
PROMISE_YAML = ROOT / "promises" / PROMISE / "promise.yaml"
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]  # as PYTHONPATH=shared:. would
LANGUAGES = ("python", "node", "go", "java", "rust")
SIZES = ("small", "medium", "large")


class BenchError(Exception):
    pass


def emit(name: str, value: float, unit: str, digits: int) -> None:
    print(f"BENCH {name} {value:.{digits}f} {unit}", flush=True)


def pipeline_env() -> dict[str, str]:
    """The container env of the resource configure Pipeline, as Kratix sets it."""
    from promisekit.schema import load_api
    from promisekit.yamlio import load_one

    promise = load_one(PROMISE_YAML.read_text(encoding="utf-8"))
    try:
        (pipeline,) = promise["spec"]["workflows"]["resource"]["configure"]
        (container,) = pipeline["spec"]["containers"]
    except (KeyError, TypeError, ValueError):
        raise BenchError(f"{PROMISE_YAML.relative_to(ROOT)}: no single resource configure container") from None
    request = load_one(EXAMPLE.read_text(encoding="utf-8"))
    env = {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}
    env.update(
        KRATIX_WORKFLOW_TYPE="resource",
        KRATIX_WORKFLOW_ACTION="configure",
        KRATIX_PROMISE_NAME=PROMISE,
        KRATIX_PIPELINE_NAME=pipeline["metadata"]["name"],
        KRATIX_OBJECT_NAME=request["metadata"]["name"],
        KRATIX_OBJECT_NAMESPACE=request["metadata"].get("namespace", "default"),
        KRATIX_OBJECT_KIND=request["kind"],
        KRATIX_OBJECT_GROUP=request["apiVersion"].split("/")[0],
        KRATIX_OBJECT_VERSION=request["apiVersion"].split("/")[-1],
        KRATIX_CRD_PLURAL=load_api(PROMISE).plural,
    )
    return env


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRATIX_", "PYTHON"))}
    env.update(extra)
    env["PYTHONPATH"] = f"{ROOT / 'shared'}{os.pathsep}{ROOT}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def kratix_root(parent: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=parent))
    (root / "input").mkdir()
    (root / "output").mkdir()
    (root / "metadata").mkdir()
    shutil.copyfile(EXAMPLE, root / "input" / "object.yaml")
    return root


def run_child(argv: list[str], env: dict[str, str], what: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child, from its own rusage (os.wait4)."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
            ],
        )
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            lines = stderr.read().decode("utf-8", "replace").strip().splitlines()
            raise BenchError(f"{what}: exit {code}: {lines[-1] if lines else 'no output'}")
    return elapsed, usage.ru_maxrss


def cold_starts(runs: int, work: Path) -> dict[str, list[float]]:
    python = sys.executable
    pipeline = child_env(pipeline_env())
    plain = child_env({})
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "pipeline_cold_ms": ([python, "-m", "promisekit", PROMISE], pipeline),
        "python_floor_ms": ([python, "-c", "pass"], plain),
        "kratix_sdk_import_ms": ([python, "-c", "import kratix_sdk"], plain),
    }
    # Untimed warm-up: page cache, and the tree's bytecode (written this once only).
    warm = dict(pipeline, KRATIX_ROOT=str(kratix_root(work)))
    del warm["PYTHONDONTWRITEBYTECODE"]
    run_child(commands["pipeline_cold_ms"][0], warm, "pipeline warm-up")
    for name, (argv, env) in commands.items():
        run_child(argv, dict(env, KRATIX_ROOT=str(kratix_root(work))), name)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            root = kratix_root(work)  # set up outside the timing
            elapsed, _ = run_child(argv, dict(env, KRATIX_ROOT=str(root)), name)
            times[name].append(elapsed * 1000)
            if name == "pipeline_cold_ms" and not any((root / "output").iterdir()):
                raise BenchError("pipeline_cold_ms: the pipeline wrote no output")
    return times


def peak_rss_mb(work: Path) -> float:
    env = child_env(pipeline_env())
    env["KRATIX_ROOT"] = str(kratix_root(work))
    _, kib = run_child([sys.executable, "-m", "promisekit", PROMISE], env, "pipeline_peak_rss_mb")
    return kib * 1024 / 1e6


def requests(count: int) -> list[dict[str, Any]]:
    """count distinct, valid DevEnvironment requests: every language x size x db, then repeats
    under new names (the name reaches every object, so no two renders are alike)."""
    combos = list(itertools.product(LANGUAGES, SIZES, (False, True)))
    result = []
    for index in range(count):
        language, size, db = combos[index % len(combos)]
        result.append(
            {
                "apiVersion": "platform.homelab.io/v1",
                "kind": "DevEnvironment",
                "metadata": {"name": f"bench-{language}-{size[0]}-{index:04d}", "namespace": f"team-{index % 7}"},
                "spec": {"language": language, "size": size, "db": db},
            }
        )
    return result


def render_seconds(count: int) -> float:
    from pipelines.devenvironment import PROMISE as definition
    from promisekit import settings
    from promisekit.promise import parse_request

    platform = settings.from_env(pipeline_env())
    batch = requests(count)
    if len({json.dumps(r, sort_keys=True) for r in batch}) != count:
        raise BenchError("render_1000_s: the requests are not distinct")
    start = time.perf_counter()
    results = [definition.configure(parse_request(definition, obj), platform) for obj in batch]
    elapsed = time.perf_counter() - start
    if not all(result.files for result in results):
        raise BenchError("render_1000_s: a request rendered no files")
    return elapsed


def image_mb(image: str, required: bool) -> tuple[float, float] | None:
    """(added over the base, total) in MB (10^6 bytes, as docker prints), or None to skip."""

    def inspect(name: str, template: str) -> str | None:
        try:
            done = subprocess.run(
                ["docker", "image", "inspect", "--format", template, name],
                capture_output=True, text=True, timeout=60, check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    size = inspect(image, "{{.Size}}")
    if size is None:
        if required:
            raise BenchError(f"pipeline_image_mb: docker cannot inspect {image}")
        return None
    base = inspect(image, '{{index .Config.Labels "org.opencontainers.image.base.name"}}')
    base_size = inspect(base, "{{.Size}}") if base else None
    if base_size is None:
        raise BenchError(f"pipeline_image_mb: base {base or '(no org.opencontainers.image.base.name label)'} of {image} not found locally")
    return (int(size) - int(base_size)) / 1e6, int(size) / 1e6


def emit_image_sizes(image: str) -> None:
    sizes = image_mb(image, required=True)
    assert sizes is not None
    emit("pipeline_image_mb", sizes[0], "MB", 1)
    emit("pipeline_image_total_mb", sizes[1], "MB", 1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="cold starts of each command (default 20)")
    parser.add_argument("--requests", type=int, default=1000, help="requests rendered in one process (default 1000)")
    parser.add_argument("--image", help="pipeline image to size (`make bench` passes IMAGE)")
    parser.add_argument("--image-only", action="store_true", help="only size the image")
    args = parser.parse_args(argv)
    if args.image_only and not args.image:
        parser.error("--image-only needs --image")
    try:
        if args.image_only:
            emit_image_sizes(args.image)
            return 0
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            work = Path(tmp)
            times = cold_starts(args.runs, work)
            for name, values in times.items():
                emit(name, statistics.median(values), "ms", 1)
            emit("pipeline_peak_rss_mb", peak_rss_mb(work), "MB", 1)
        emit(f"render_{args.requests}_s", render_seconds(args.requests), "s", 3)
        if args.image:
            emit_image_sizes(args.image)
    except Exception as err:  # one line, whatever broke
        print(f"bench: error: {type(err).__name__ + ': ' if not isinstance(err, BenchError) else ''}{err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
