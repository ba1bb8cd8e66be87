"""The runner on the real DevEnvironment promise: its built promise.yaml, its real entrypoint.

One test runs the whole `demo` as a user would (a fresh interpreter, the subprocess engine,
so every pipeline is `python -m promisekit devenvironment` in its own process); the others
use the inprocess engine, which calls the same entrypoint function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promisekit.runner import Document, EngineUnavailable, Runner, read_documents
from promisekit.runner._engine import REPO_ROOT

PROMISE = REPO_ROOT / "promises" / "devenvironment" / "promise.yaml"
EXAMPLES = sorted((REPO_ROOT / "examples" / "devenvironment").glob("*.yaml"))
INVALID = sorted((REPO_ROOT / "examples" / "devenvironment" / "invalid").glob("*.yaml"))
DESTINATIONS = REPO_ROOT / "examples" / "platform" / "destinations.yaml"
ROOT_ID = "5058f"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    runner = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="inprocess")
    assert all(o.ok for o in runner.install(read_documents([PROMISE])))
    return runner


def test_demo_runs_end_to_end_through_the_cli_and_the_subprocess_engine(tmp_path: Path) -> None:
    state = tmp_path / "demo-state"
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'shared'}{os.pathsep}{REPO_ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "promisekit.runner", "demo", "--state", str(state)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "promise.platform.kratix.io/devenvironment created" in done.stdout
    files = tree(state)
    # dev lands on the worker; staging on the vCluster the demo's own VCluster request registers.
    destinations = {"dev": "worker-1", "staging": "vcluster-default-staging"}
    for example in EXAMPLES:
        obj = yaml.safe_load(example.read_text(encoding="utf-8"))
        namespace = obj["metadata"].get("namespace", "default")
        name = obj["metadata"]["name"]
        destination = destinations[obj["spec"].get("environment", "dev")]
        directory = f"{destination}/resources/{namespace}/devenvironment/{name}/render/{ROOT_ID}/"
        assert f"{directory}deployment-{name}.yaml" in files, f"{example.name}: no Deployment under {directory}"
        assert f"DevEnvironment {namespace}/{name}" in done.stdout
    for destination in ("platform", "worker-1", "vcluster-default-staging", "vcluster-default-production"):
        assert f"{destination}/dependencies/postgresql/dependencies/{ROOT_ID}/helmrelease-cloudnative-pg.yaml" in files
        assert f"{destination}/dependencies/devenvironment/dependencies/{ROOT_ID}/helmrelease-external-secrets.yaml" in files
    assert "DevEnvironment team-a/web-staging:\n  vcluster-default-staging/resources/team-a/devenvironment/web-staging/" in done.stdout
    assert "] DevEnvironment" in done.stderr, "progress goes to stderr"


def test_every_invalid_example_is_refused_and_writes_nothing(runner: Runner) -> None:
    outcomes = runner.apply(read_documents(INVALID))
    assert len(outcomes) == len(INVALID)
    for path, outcome in zip(INVALID, outcomes, strict=True):
        assert not outcome.ok, f"{path.name} was accepted"
        assert "\n" not in outcome.error
    assert not any("/resources/" in p and "canary" not in p for p in tree(runner.store.state))


def test_the_api_server_message_pins_the_field_and_the_rule(runner: Runner) -> None:
    [outcome] = runner.apply(read_documents([REPO_ROOT / "examples" / "devenvironment" / "invalid" / "size-out-of-range.yaml"]))
    assert outcome.error == 'devenvironments.platform.homelab.io "huge" is invalid: spec.size: must be one of small, medium, large (got "huge")'


def test_an_environment_without_a_destination_stays_pending(runner: Runner) -> None:
    obj = {"apiVersion": "platform.homelab.io/v1", "kind": "DevEnvironment", "metadata": {"name": "stage-env"}, "spec": {"language": "go", "environment": "staging"}}
    [outcome] = runner.apply([Document(obj, "stage.yaml")])
    assert outcome.ok
    assert outcome.note == "pending: no Destination matches environment=staging"
    [view] = runner.get("devenv", "stage-env")
    assert view.reconciled == "Pending"
    assert view.message.startswith("Workspace at http://stage-env.staging.lab.local")


def test_subprocess_and_inprocess_engines_write_the_same_store(tmp_path: Path) -> None:
    stores = []
    for engine in ("subprocess", "inprocess"):
        runner = Runner(tmp_path / engine, destinations_file=DESTINATIONS, engine=engine)
        runner.install(read_documents([PROMISE]))
        assert all(o.ok for o in runner.apply(read_documents(EXAMPLES[:2])))
        stores.append(tree(runner.store.state))
    assert stores[0] == stores[1]


def test_the_docker_engine_says_plainly_when_docker_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable, match=r"^--engine docker: docker is not installed \(no docker on PATH\)$"):
        Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="docker")
