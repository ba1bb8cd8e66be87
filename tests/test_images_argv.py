"""How the image tier runs a Pipeline container: the `docker run` that Kratix's Job implies.

tests/test_images.py runs every example through it (make test-images); the mapping itself,
from a promise.yaml container to docker's flags, is checked here without docker, in
`make test`, so a Pipeline field the tier would silently drop fails at once.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness import PROMISES, containers, kratix_env, promise_document
from promisekit.runner._docker import docker_run_argv, quantity
from promisekit.runner._errors import EngineUnavailable

# Set for the subprocess only: the image has its own PATH and PYTHONPATH, and /kratix.
HOST_ONLY_ENV = ("PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "KRATIX_ROOT")
DOCKER_TIMEOUT_S = 120


def container_env(name: str, container: dict[str, Any], obj: dict[str, Any], wtype: str, action: str) -> dict[str, str]:
    for item in container.get("env", []):
        assert "value" in item, f"container {container['name']}: env {item['name']} is not a literal value; the image tier has no Secrets"
    assert not container.get("envFrom"), f"container {container['name']}: envFrom is not emulated"
    env = kratix_env(name, container, obj, wtype, action, Path("/kratix"))
    return {key: value for key, value in env.items() if key not in HOST_ONLY_ENV}


# --- the mapping, checked without docker

CONTAINER = {
    "name": "render",
    "image": "registry.example/pipeline:v1",
    "command": ["python3", "-m", "promisekit"],
    "args": ["widget"],
    "env": [{"name": "PLATFORM_SETTINGS", "value": "{}"}],
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "resources": {"limits": {"cpu": "500m", "memory": "128Mi", "ephemeral-storage": "256Mi"}},
}


def flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == flag]


def test_the_container_runs_as_its_security_context_says() -> None:
    argv = docker_run_argv(CONTAINER, {}, Path("/r"))
    assert flag_values(argv, "--user") == ["65532:65532"]
    assert "--read-only" in argv, "readOnlyRootFilesystem"
    assert flag_values(argv, "--security-opt") == ["no-new-privileges"], "allowPrivilegeEscalation: false"
    assert flag_values(argv, "--cap-drop") == ["ALL"]
    assert flag_values(argv, "--network") == ["none"], "nothing is fetched at run time"
    assert "--tmpfs" not in argv, "Kratix mounts no /tmp: neither does the tier"


def test_the_limits_are_the_pipelines() -> None:
    argv = docker_run_argv(CONTAINER, {}, Path("/r"))
    assert flag_values(argv, "--cpus") == ["0.500"]
    assert flag_values(argv, "--memory") == [str(128 * 2**20)]
    assert flag_values(argv, "--memory-swap") == [str(128 * 2**20)], "no swap, as on a kubelet node"


@pytest.mark.parametrize(
    ("resources", "cpus", "memory", "reason"),
    [
        (None, ["0.200"], [str(256 * 2**20)], "no resources: Kratix's defaults (200m, 256Mi)"),
        ({"requests": {"cpu": "1"}}, [], [], "resources without limits: no limit at all"),
        ({"limits": {"cpu": "2", "memory": "1Gi"}}, ["2"], [str(2**30)], "whole CPUs and Gi"),
    ],
)
def test_kratix_defaults_apply_only_without_resources(resources: Any, cpus: list[str], memory: list[str], reason: str) -> None:
    container = {k: v for k, v in CONTAINER.items() if k != "resources"}
    if resources is not None:
        container["resources"] = resources
    argv = docker_run_argv(container, {}, Path("/r"))
    assert (flag_values(argv, "--cpus"), flag_values(argv, "--memory")) == (cpus, memory), reason


def test_mounts_command_and_args_come_from_the_pipeline() -> None:
    argv = docker_run_argv(CONTAINER, {"KRATIX_WORKFLOW_TYPE": "resource"}, Path("/r"))
    assert flag_values(argv, "-v") == ["/r/input:/kratix/input:ro", "/r/output:/kratix/output", "/r/metadata:/kratix/metadata"]
    assert flag_values(argv, "-e") == ["KRATIX_WORKFLOW_TYPE=resource"]
    # command replaces ENTRYPOINT, args CMD: the image and what follows it.
    at = argv.index("--entrypoint")
    assert argv[at + 1 :] == ["python3", "registry.example/pipeline:v1", "-m", "promisekit", "widget"]


def test_an_unemulated_seccomp_profile_is_refused() -> None:
    container = {**CONTAINER, "securityContext": {**CONTAINER["securityContext"], "seccompProfile": {"type": "Unconfined"}}}
    with pytest.raises(EngineUnavailable, match="only RuntimeDefault"):
        docker_run_argv(container, {}, Path("/r"))


@pytest.mark.parametrize(("text", "value"), [("500m", Decimal("0.5")), ("1", 1), ("128Mi", 128 * 2**20), ("1G", 10**9), ("1.5", Decimal("1.5"))])
def test_quantities(text: str, value: Any) -> None:
    assert quantity(text) == value


@pytest.mark.parametrize("name", [n for n in PROMISES if (Path(__file__).resolve().parents[1] / "promises" / n / "promise.yaml").is_file()])
def test_every_pipeline_container_maps_to_docker(name: str) -> None:
    """Every container of every promise: its fields are ones the tier applies, its env is Kratix's."""
    known = {"name", "image", "command", "args", "env", "imagePullPolicy", "securityContext", "resources"}
    for wtype, action in (("promise", "configure"), ("promise", "delete"), ("resource", "configure"), ("resource", "delete")):
        for container in containers(name, wtype, action):
            assert set(container) <= known, f"{name}: {sorted(set(container) - known)}: the image tier does not apply these"
            obj = promise_document(name)
            env = container_env(name, container, obj, wtype, action)
            assert not set(env) & set(HOST_ONLY_ENV)
            assert env["KRATIX_WORKFLOW_TYPE"] == wtype and env["KRATIX_WORKFLOW_ACTION"] == action
            argv = docker_run_argv(container, env, Path("/r"))
            assert argv.count("--read-only") == 1 and "--user" in argv, "promise pipelines run read-only as a numeric user"
