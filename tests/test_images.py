"""The image tier: every example request through the built image, exactly as Kratix runs it.

For every promise (whatever promises/ holds), every workflow its promise.yaml declares and
every request of examples/<promise> (valid and invalid), the Pipeline's container runs as
`docker run` of the image promise.yaml names, the way Kratix's Job runs it:

- /kratix/input mounted read-only, /kratix/output and /kratix/metadata writable emptyDirs;
- the container's command and args from promise.yaml, its literal env, and the KRATIX_* vars
  (the same values harness.kratix_env gives the subprocess run);
- its securityContext: user and group, read-only root filesystem, no privilege escalation,
  capabilities dropped, Docker's default seccomp profile (= RuntimeDefault);
- the CPU and memory limits the Pipeline declares (Kratix's defaults where it declares none),
  swap off as on a Kubernetes node; no network at all;
- no /tmp or any other writable path: Kratix mounts none.

Then every byte of output/ and metadata/, the exit code and stderr must equal those of the
subprocess run (harness.run_subprocess) with the same SOURCE_DATE_EPOCH, the one variable
added to Kratix's set, so status timestamps compare. The ephemeral-storage limit is not
enforced (Docker's overlay2 driver cannot cap a container's writes here).

Run by `make test-images` (IMAGE_TIER=1), which builds the images first. Elsewhere the
module reports one skip saying so; with IMAGE_TIER=1 and no docker, every test fails with
the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from harness import PROMISES, containers, examples, invalid_examples, load, pipeline_names, prepare, promise_document, run_subprocess
from test_images_argv import DOCKER_TIMEOUT_S, container_env, docker_run_argv

if os.environ.get("IMAGE_TIER") != "1":
    pytest.skip("image tier: not run (make test-images builds the images and runs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = (("promise", "configure"), ("promise", "delete"), ("resource", "configure"), ("resource", "delete"))
@lru_cache(maxsize=None)
def docker_problem() -> str | None:
    """None when the daemon answers, else the one-line reason (tools/docker-ready.sh)."""
    script = ROOT / "tools" / "docker-ready.sh"
    done = subprocess.run([str(script), "--reason"], capture_output=True, text=True, timeout=60)
    return None if done.returncode == 0 else done.stdout.strip() or "docker cannot run"


@lru_cache(maxsize=None)
def image_config(image: str) -> dict[str, Any]:
    done = subprocess.run(["docker", "image", "inspect", image, "--format", "{{json .Config}}"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.fail(f"{image}: not built here (make test-images builds it): {done.stderr.strip()}", pytrace=False)
    return json.loads(done.stdout)


@pytest.fixture(autouse=True)
def docker() -> None:
    problem = docker_problem()
    if problem:
        pytest.fail(f"image tier: {problem}", pytrace=False)


def run_container(name: str, obj: dict[str, Any], wtype: str, action: str, root: Path) -> subprocess.CompletedProcess[str]:
    container = containers(name, wtype, action)[0]
    prepare(root, obj)
    # emptyDirs are world-writable; the pipeline user is not the one running these tests.
    for writable in ("output", "metadata"):
        (root / writable).chmod(0o777)
    (root / "input").chmod(0o755)
    (root / "input" / "object.yaml").chmod(0o644)
    argv = docker_run_argv(container, container_env(name, container, obj, wtype, action), root)
    return subprocess.run(argv, capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)


def tree(root: Path) -> dict[str, bytes]:
    """Every file of output/ and metadata/, byte for byte."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for sub in ("output", "metadata") for p in sorted((root / sub).rglob("*")) if p.is_file()}


def built(name: str) -> bool:
    """Whether promises/<name>/promise.yaml exists (a promise being written may not have one yet)."""
    return (ROOT / "promises" / name / "promise.yaml").is_file()


def cases() -> list[Any]:
    found = []
    for name in PROMISES:
        if not built(name):
            found.append(pytest.param(name, "", "", None, id=f"{name}/promise.yaml"))
            continue
        for wtype, action in WORKFLOWS:
            if not containers(name, wtype, action):
                continue
            if wtype == "promise":
                found.append(pytest.param(name, wtype, action, None, id=f"{name}/promise-{action}"))
                continue
            requests = examples(name) + (invalid_examples(name) if action == "configure" else [])
            for path in requests:
                label = f"invalid/{path.stem}" if path.parent.name == "invalid" else path.stem
                found.append(pytest.param(name, wtype, action, path, id=f"{name}/{action}/{label}"))
    return found


CASES = cases()


@pytest.mark.parametrize(("name", "wtype", "action", "path"), CASES)
def test_the_image_writes_what_the_subprocess_writes(name: str, wtype: str, action: str, path: Path | None, tmp_path: Path) -> None:
    assert built(name), f"promises/{name}/promise.yaml is missing; run `make promises`"
    obj = promise_document(name) if path is None else load(path)
    want = run_subprocess(name, obj, wtype, action, tmp_path / "subprocess")
    got = run_container(name, obj, wtype, action, tmp_path / "container")
    assert "Unable to find image" not in got.stderr, got.stderr
    assert got.returncode == want.returncode, f"container exited {got.returncode}, subprocess {want.returncode}: {got.stderr.strip()[-2000:]}"
    assert got.stderr.replace("/kratix", "<root>") == want.stderr.replace(str(tmp_path / "subprocess"), "<root>")
    want_tree, got_tree = tree(tmp_path / "subprocess"), tree(tmp_path / "container")
    assert sorted(got_tree) == sorted(want_tree), "the container wrote other files than the subprocess"
    different = [path for path in want_tree if got_tree[path] != want_tree[path]]
    assert not different, f"not byte-identical: {different}"


def test_every_promise_is_covered() -> None:
    assert PROMISES, "no promise in promises/"
    for name in PROMISES:
        assert any(case.values[0] == name for case in CASES), f"{name}: no workflow to run"


@pytest.mark.parametrize("name", PROMISES)
def test_each_workflow_is_one_pipeline_of_one_container(name: str) -> None:
    """The tier runs the first container of the first Pipeline, as the harness does."""
    assert built(name), f"promises/{name}/promise.yaml is missing; run `make promises`"
    for wtype, action in WORKFLOWS:
        assert len(pipeline_names(name, wtype, action)) <= 1, f"{name} {wtype}/{action}: several Pipelines; extend the image tier"
        assert len(containers(name, wtype, action)) <= 1, f"{name} {wtype}/{action}: several containers; extend the image tier"


def pipeline_containers() -> list[Any]:
    return [pytest.param(name, c, id=f"{name}/{'-'.join(w)}/{c['name']}") for name in PROMISES if built(name) for w in WORKFLOWS for c in containers(name, *w)]


@pytest.mark.parametrize(("name", "container"), pipeline_containers())
def test_the_image_user_is_the_pipelines_numeric_non_root_user(name: str, container: dict[str, Any]) -> None:
    user = image_config(container["image"])["User"]
    assert re.fullmatch(r"[0-9]+(:[0-9]+)?", user), f"{container['image']}: USER {user!r} must be numeric (runAsNonRoot checks a uid)"
    assert int(user.split(":")[0]) != 0
    security = container["securityContext"]
    assert security.get("runAsNonRoot") is True
    assert user == f"{security['runAsUser']}:{security['runAsGroup']}", "the image's USER and the Pipeline's runAsUser/runAsGroup differ"


@pytest.mark.parametrize("image", sorted({c["image"] for name in PROMISES if built(name) for w in WORKFLOWS for c in containers(name, *w)}))
def test_a_bare_run_prints_the_usage_and_holds_no_test_code(image: str) -> None:
    config = image_config(image)
    assert config.get("Labels", {}).get("org.opencontainers.image.base.name"), "no base label: make bench cannot size the image"
    bare = subprocess.run(["docker", "run", "--rm", "--network", "none", "--read-only", "--pull", "never", image], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)
    assert bare.returncode == 2 and bare.stderr.startswith("usage: python -m promisekit"), bare.stderr
    probe = "import importlib.util as u, os; print(sorted(os.listdir('/app')), [m for m in ('promisekit.runner', 'promisekit.checks', 'kubernetes', 'kratix_sdk', 'pytest') if u.find_spec(m)])"
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", "--read-only", "--pull", "never", image, "python3", "-c", probe], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['deps', 'pipelines', 'schemas', 'shared', 'template-cache'] []", done.stdout


def test_the_runners_docker_engine_gives_the_demo_the_subprocess_engine_gives(tmp_path: Path) -> None:
    """`promisekit.runner demo --engine docker`: every promise and example, through the images, into the same state store."""
    stores = []
    for engine in ("docker", "subprocess"):
        state = tmp_path / engine / "state-store"
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}", "SOURCE_DATE_EPOCH": "1767225600"}
        done = subprocess.run(
            [sys.executable, "-m", "promisekit.runner", "demo", "--quiet", "--engine", engine, "--state", str(state)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )
        assert done.returncode == 0, done.stderr
        stores.append({p.relative_to(state).as_posix(): p.read_bytes() for p in sorted(state.rglob("*")) if p.is_file()})
    assert stores[0] == stores[1]
    assert any("/resources/" in path for path in stores[0])


def test_docker_is_the_one_this_tier_expects() -> None:
    """The tier's limits need a daemon that applies them: a cgroup memory controller."""
    done = subprocess.run(["docker", "info", "--format", "{{json .MemoryLimit}} {{json .CPUCfsQuota}}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["true", "true"], f"docker applies no memory or CPU limit here: {done.stdout.strip()}"
    assert shutil.which("docker")
