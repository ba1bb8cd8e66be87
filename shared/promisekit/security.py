"""Restricted Pod Security defaults (non-root, RuntimeDefault seccomp, no capabilities)."""

from __future__ import annotations

from typing import Any


def pod_security_context(*, uid: int, gid: int | None = None, fs_group: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid if gid is None else gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        context["fsGroup"] = fs_group
        # Only chown a fresh volume, not every file of a big home directory at each start.
        context["fsGroupChangePolicy"] = "OnRootMismatch"
    return context


def container_security_context(*, read_only_root: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
