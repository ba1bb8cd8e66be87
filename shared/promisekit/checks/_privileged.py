"""Workloads allowed to break the restricted Pod Security profile, each with its reason.

A listed workload passes only when the same rendered output holds its Namespace labelled
pod-security.kubernetes.io/enforce: privileged. Add an entry when a promise ships one
(e.g. a chaos-daemon or kepler DaemonSet); keep the reason specific.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrivilegedWorkload:
    namespace: str
    kind: str
    name: str
    reason: str


PRIVILEGED_WORKLOADS: tuple[PrivilegedWorkload, ...] = (
    PrivilegedWorkload(
        namespace="chaos-mesh",
        kind="DaemonSet",
        name="chaos-daemon",
        reason=(
            "Chaos Mesh's fault injector enters other pods' network, PID and mount namespaces: "
            "privileged, hostPID, the container runtime socket, /sys and /lib/modules from the host"
        ),
    ),
)
