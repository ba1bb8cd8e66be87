"""The `docker run` that Kratix's Job implies for one Pipeline container: the runner's docker
engine and the image tier (tests/test_images.py) both run containers through it."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from promisekit.runner._errors import EngineUnavailable

# What Kratix gives a user container that declares no resources (research kratix.md §2.1).
KRATIX_DEFAULT_LIMITS = {"cpu": "200m", "memory": "256Mi"}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("500m", "128Mi", "1") as a number."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise EngineUnavailable(f"{text!r}: not a Kubernetes quantity the docker engine reads")
    return Decimal(match.group(1)) * _FACTORS[match.group(2)]


def docker_run_argv(container: Mapping[str, Any], env: Mapping[str, str], root: Path) -> list[str]:
    """`docker run` of a Pipeline container (as promise.yaml declares it) with the /kratix tree at root.

    No network and no writable path but output/ and metadata/: Kratix mounts nothing else, and
    swap is off as on a kubelet node. The ephemeral-storage limit is not applied (overlay2
    cannot cap a container's writes).
    """
    security = container.get("securityContext", {})
    # Kratix's defaults apply only to a container that declares no resources at all.
    limits = container["resources"].get("limits", {}) if "resources" in container else KRATIX_DEFAULT_LIMITS
    argv = ["docker", "run", "--rm", "--network", "none", "--pull", "never"]
    if "cpu" in limits:
        argv += ["--cpus", str(quantity(limits["cpu"]))]
    if "memory" in limits:
        memory = int(quantity(limits["memory"]))
        argv += ["--memory", str(memory), "--memory-swap", str(memory)]
    if "runAsUser" in security:
        group = f":{security['runAsGroup']}" if "runAsGroup" in security else ""
        argv += ["--user", f"{security['runAsUser']}{group}"]
    if security.get("readOnlyRootFilesystem"):
        argv.append("--read-only")
    if security.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    for capability in security.get("capabilities", {}).get("drop", []):
        argv += ["--cap-drop", capability]
    for capability in security.get("capabilities", {}).get("add", []):
        argv += ["--cap-add", capability]
    profile = security.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if profile != "RuntimeDefault":
        raise EngineUnavailable(f"container {container['name']}: seccompProfile {profile}: only RuntimeDefault (docker's default profile) is emulated")
    argv += ["-v", f"{root / 'input'}:/kratix/input:ro", "-v", f"{root / 'output'}:/kratix/output", "-v", f"{root / 'metadata'}:/kratix/metadata"]
    for key, value in sorted(env.items()):
        argv += ["-e", f"{key}={value}"]
    command, args = list(container.get("command") or []), [str(a) for a in container.get("args") or []]
    if command:
        # Kubernetes' command replaces the image's ENTRYPOINT, and args its CMD.
        argv += ["--entrypoint", command[0], container["image"], *command[1:], *args]
    else:
        argv += [container["image"], *args]
    return argv
