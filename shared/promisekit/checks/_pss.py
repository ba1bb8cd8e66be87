"""Pod Security Standards (Kubernetes v1.33), control by control as PodSecurity admission applies them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from promisekit.checks import _privileged
from promisekit.checks._manifest import label_of

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

_BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# The baseline "safe" sysctls as of policy version v1.32 (unchanged in v1.33).
_SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
_SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
_RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
# Kinds whose pod template sits at .spec.template (CronJob and PodTemplate are handled apart).
_TEMPLATED = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("", "ReplicationController"),
    }
)


@dataclass(frozen=True)
class _Pod:
    meta_path: str
    spec_path: str
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def context(self) -> dict[str, Any]:
        return self.spec.get("securityContext") or {}

    @property
    def windows(self) -> bool:
        return (self.spec.get("os") or {}).get("name") == "windows"

    def levels(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The pod securityContext, then each container's: the places most controls look."""
        yield f"{self.spec_path}.securityContext", self.context
        for path, container in self.containers():
            yield f"{path}.securityContext", container.get("securityContext") or {}

    def containers(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for field in _CONTAINER_LISTS:
            for index, container in enumerate(self.spec.get(field) or []):
                yield f"{self.spec_path}.{field}[{container.get('name', index)}]", container

    def container_contexts(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for path, container in self.containers():
            yield f"{path}.securityContext", container.get("securityContext") or {}


def _pod_of(obj: dict[str, Any]) -> _Pod | None:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if (group, kind) == ("", "Pod"):
        return _Pod("metadata", "spec", obj.get("metadata") or {}, spec)
    if (group, kind) == ("batch", "CronJob"):
        prefix, template = "spec.jobTemplate.spec.template", ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    elif (group, kind) == ("", "PodTemplate"):
        prefix, template = "template", obj.get("template")
    elif (group, kind) in _TEMPLATED:
        prefix, template = "spec.template", spec.get("template")
    else:
        return None
    template = template or {}
    return _Pod(f"{prefix}.metadata", f"{prefix}.spec", template.get("metadata") or {}, template.get("spec") or {})


Finding = tuple[str, str]


def _host_process(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.levels():
        if (context.get("windowsOptions") or {}).get("hostProcess") is True:
            yield f"{path}.windowsOptions.hostProcess", "must be false or unset (baseline: HostProcess)"


def _host_namespaces(pod: _Pod) -> Iterator[Finding]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.spec.get(field) is True:
            yield f"{pod.spec_path}.{field}", "must be false or unset (baseline: host namespaces)"


def _privileged_containers(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.container_contexts():
        if context.get("privileged") is True:
            yield f"{path}.privileged", "must be false or unset (baseline: privileged containers)"


def _capabilities_baseline(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.container_contexts():
        for capability in (context.get("capabilities") or {}).get("add") or []:
            if capability not in _BASELINE_CAPABILITIES:
                yield f"{path}.capabilities.add", f"{capability} is beyond the default set (baseline: capabilities)"


def _host_path_volumes(pod: _Pod) -> Iterator[Finding]:
    for volume in pod.spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"{pod.spec_path}.volumes[{volume.get('name')}].hostPath", "is forbidden (baseline: hostPath volumes)"


def _host_ports(pod: _Pod) -> Iterator[Finding]:
    for path, container in pod.containers():
        for port in container.get("ports") or []:
            if port.get("hostPort") not in (None, 0):
                yield f"{path}.ports[{port.get('containerPort')}].hostPort", "must be 0 or unset (baseline: host ports)"


def _apparmor(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.levels():
        profile = (context.get("appArmorProfile") or {}).get("type")
        if profile is not None and profile not in _PROFILE_TYPES:
            yield f"{path}.appArmorProfile.type", f"{profile} is not RuntimeDefault or Localhost (baseline: AppArmor)"
    for key, value in (pod.metadata.get("annotations") or {}).items():
        if key.startswith(_APPARMOR_ANNOTATION) and value not in ("", "runtime/default") and not str(value).startswith("localhost/"):
            yield f"{pod.meta_path}.annotations[{key}]", f"{value} is not runtime/default or localhost/* (baseline: AppArmor)"


def _selinux(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.levels():
        options = context.get("seLinuxOptions") or {}
        if options.get("type") and options["type"] not in _SELINUX_TYPES:
            yield f"{path}.seLinuxOptions.type", f"{options['type']} is not a container SELinux type (baseline: SELinux)"
        for field in ("user", "role"):
            if options.get(field):
                yield f"{path}.seLinuxOptions.{field}", "must be unset (baseline: SELinux)"


def _proc_mount(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.container_contexts():
        if context.get("procMount") not in (None, "Default"):
            yield f"{path}.procMount", "must be Default or unset (baseline: /proc mount type)"


def _seccomp_baseline(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.levels():
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f"{path}.seccompProfile.type", "must not be Unconfined (baseline: seccomp)"


def _sysctls(pod: _Pod) -> Iterator[Finding]:
    for sysctl in pod.context.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            yield f"{pod.spec_path}.securityContext.sysctls[{sysctl.get('name')}]", "is not a safe sysctl (baseline: sysctls)"


def _volume_types(pod: _Pod) -> Iterator[Finding]:
    for volume in pod.spec.get("volumes") or []:
        for source in sorted(set(volume) - {"name"} - _RESTRICTED_VOLUMES):
            yield f"{pod.spec_path}.volumes[{volume.get('name')}].{source}", f"{source} volumes are not allowed (restricted: volume types)"


def _privilege_escalation(pod: _Pod) -> Iterator[Finding]:
    if pod.windows:  # Linux-only control: PodSecurity skips it for spec.os.name=windows.
        return
    for path, context in pod.container_contexts():
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{path}.allowPrivilegeEscalation", "must be false (restricted: privilege escalation)"


def _run_as_non_root(pod: _Pod) -> Iterator[Finding]:
    pod_value = pod.context.get("runAsNonRoot")
    if pod_value is False:
        yield f"{pod.spec_path}.securityContext.runAsNonRoot", "must be true (restricted: running as non-root)"
    for path, context in pod.container_contexts():
        value = context.get("runAsNonRoot")
        if value is False:
            yield f"{path}.runAsNonRoot", "must be true or unset (restricted: running as non-root)"
        elif value is None and pod_value is not True:
            yield f"{path}.runAsNonRoot", "must be true here or in the pod securityContext (restricted: running as non-root)"


def _run_as_user(pod: _Pod) -> Iterator[Finding]:
    for path, context in pod.levels():
        value = context.get("runAsUser")
        if type(value) is int and value == 0:
            yield f"{path}.runAsUser", "must not be 0 (restricted: running as non-root user)"


def _seccomp_restricted(pod: _Pod) -> Iterator[Finding]:
    if pod.windows:  # Linux-only control: PodSecurity skips it for spec.os.name=windows.
        return
    pod_type = (pod.context.get("seccompProfile") or {}).get("type")
    if pod_type is not None and pod_type not in _PROFILE_TYPES:
        yield f"{pod.spec_path}.securityContext.seccompProfile.type", f"{pod_type} is not RuntimeDefault or Localhost (restricted: seccomp)"
    for path, context in pod.container_contexts():
        container_type = (context.get("seccompProfile") or {}).get("type")
        if container_type is not None and container_type not in _PROFILE_TYPES:
            yield f"{path}.seccompProfile.type", f"{container_type} is not RuntimeDefault or Localhost (restricted: seccomp)"
        elif container_type is None and pod_type not in _PROFILE_TYPES:
            yield f"{path}.seccompProfile.type", "must be RuntimeDefault or Localhost here or in the pod securityContext (restricted: seccomp)"


def _capabilities_restricted(pod: _Pod) -> Iterator[Finding]:
    if pod.windows:  # Linux-only control: PodSecurity skips it for spec.os.name=windows.
        return
    for path, context in pod.container_contexts():
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"{path}.capabilities.drop", "must include ALL (restricted: capabilities)"
        for capability in capabilities.get("add") or []:
            if capability != "NET_BIND_SERVICE":
                yield f"{path}.capabilities.add", f"{capability} may not be added, only NET_BIND_SERVICE (restricted: capabilities)"


Check = Callable[[_Pod], Iterator[Finding]]
_BASELINE: tuple[Check, ...] = (
    _host_process,
    _host_namespaces,
    _privileged_containers,
    _capabilities_baseline,
    _host_path_volumes,
    _host_ports,
    _apparmor,
    _selinux,
    _proc_mount,
    _seccomp_baseline,
    _sysctls,
)
# At restricted, these baseline checks give way to their stricter versions, as in PodSecurity admission.
_REPLACED_AT_RESTRICTED = (_capabilities_baseline, _host_path_volumes, _seccomp_baseline)
_RESTRICTED: tuple[Check, ...] = tuple(check for check in _BASELINE if check not in _REPLACED_AT_RESTRICTED) + (
    _volume_types,
    _privilege_escalation,
    _run_as_non_root,
    _run_as_user,
    _seccomp_restricted,
    _capabilities_restricted,
)
_CHECKS: dict[str, tuple[Check, ...]] = {"privileged": (), "baseline": _BASELINE, "restricted": _RESTRICTED}


def check_pod_security(obj: dict[str, Any], namespace_labels: dict[str, str] | None = None) -> list[str]:
    """Violations of the level the namespace enforces; no labels, no enforce label or an unknown
    level mean restricted (the platform's default). Objects without a pod template pass."""
    pod = _pod_of(obj)
    if pod is None:
        return []
    level = (namespace_labels or {}).get(ENFORCE_LABEL, "restricted")
    checks = _CHECKS.get(level, _RESTRICTED)
    return [f"{label_of(obj)}: {field}: {rule}" for check in checks for field, rule in check(pod)]


def pod_security_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every workload must pass restricted, except a PRIVILEGED_WORKLOADS entry whose Namespace,
    labelled enforce=privileged, is rendered in the same objects."""
    privileged_namespaces = {
        (obj.get("metadata") or {}).get("name")
        for obj in objects
        if obj.get("apiVersion") == "v1"
        and obj.get("kind") == "Namespace"
        and ((obj.get("metadata") or {}).get("labels") or {}).get(ENFORCE_LABEL) == "privileged"
    }
    # Read through the module so entries added to (or patched into) the registry are seen.
    registry = {(w.namespace, w.kind, w.name): w for w in _privileged.PRIVILEGED_WORKLOADS}
    violations: list[str] = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace", "default")
        entry = registry.get((namespace, obj.get("kind"), metadata.get("name")))
        if entry is not None and namespace in privileged_namespaces:
            continue
        found = check_pod_security(obj)
        if entry is not None and found:
            violations.append(
                f"{label_of(obj)}: metadata.namespace: listed as privileged ({entry.reason}) but no Namespace "
                f"{namespace} labelled {ENFORCE_LABEL}: privileged is rendered with it"
            )
        violations.extend(found)
    return violations
