"""Steps as data: what to apply where, what to wait for, and how a wait is judged.

A plan is a list of steps; each one knows its command line, so a plan can be printed
(`--dry-run`), validated offline, and executed by run.py. Waits are judged in Python from
`kubectl get -o json` (`satisfied`), the same rules `kubectl wait --for` applies, so the
offline tests exercise the exact judgement the cluster run makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import yaml

KUBECTL = "kubectl"


def kubectl(context: str | None, *args: str) -> tuple[str, ...]:
    return (KUBECTL, *(("--context", context) if context else ()), *args)


def dump_all(manifests: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all([dict(m) for m in manifests], sort_keys=False)


@dataclass(frozen=True)
class Ref:
    """One object on one cluster: what `kubectl get` needs to find it."""

    context: str
    resource: str  # kubectl's resource name: plural.group, or a core plural
    name: str
    namespace: str = ""  # empty: cluster-scoped

    def get_argv(self) -> tuple[str, ...]:
        ns = ("-n", self.namespace) if self.namespace else ()
        return kubectl(self.context, "get", self.resource, self.name, *ns, "-o", "json", "--ignore-not-found")

    def list_argv(self) -> tuple[str, ...]:
        """Every object of this ref's resource in its namespace: one call answers many refs."""
        ns = ("-n", self.namespace) if self.namespace else ()
        return kubectl(self.context, "get", self.resource, *ns, "-o", "json")

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.context}: {self.resource}/{where}{self.name}"


@dataclass(frozen=True)
class Apply:
    """`kubectl apply` of manifests this project renders (validated offline)."""

    context: str
    manifests: tuple[Mapping[str, Any], ...]
    what: str

    def argv(self) -> tuple[str, ...]:
        return kubectl(self.context, "apply", "-f", "-")

    def stdin(self) -> str:
        return dump_all(self.manifests)


@dataclass(frozen=True)
class ApplyUpstream:
    """`kubectl apply` of a pinned upstream file (URL or a path in a pinned checkout). After
    it, run.py waits for every Deployment it holds to be Available and every Job Complete."""

    context: str
    source: str
    what: str
    namespace_hint: str = ""

    def argv(self) -> tuple[str, ...]:
        return kubectl(self.context, "apply", "--server-side", "--force-conflicts", "-f", self.source)


@dataclass(frozen=True)
class Command:
    """Anything else: kind, docker, git, make."""

    argv_: tuple[str, ...]
    what: str
    cwd: str = ""
    # Skipped when this command exits 0 (e.g. a cluster that already exists).
    unless: tuple[str, ...] = ()

    def argv(self) -> tuple[str, ...]:
        return self.argv_


@dataclass(frozen=True)
class Wait:
    """Poll until every ref satisfies `condition` (see `satisfied`), within timeout_s."""

    refs: tuple[Ref, ...]
    condition: str
    what: str
    timeout_s: int = 300
    # Timing: the label of the row in the time-to-Ready table this wait belongs to.
    timer: str = ""

    def argv(self) -> tuple[str, ...]:
        """The equivalent kubectl wait, for the first ref (what --dry-run prints)."""
        ref = self.refs[0]
        ns = ("-n", ref.namespace) if ref.namespace else ()
        return kubectl(ref.context, "wait", f"{ref.resource}/{ref.name}", *ns, f"--for={self.condition}", f"--timeout={self.timeout_s}s")


@dataclass(frozen=True)
class Delete:
    """`kubectl delete` of manifests (by their names), never waiting: a Wait "delete" follows."""

    context: str
    manifests: tuple[Mapping[str, Any], ...]
    what: str

    def argv(self) -> tuple[str, ...]:
        return kubectl(self.context, "delete", "--ignore-not-found", "--wait=false", "-f", "-")

    def stdin(self) -> str:
        return dump_all(self.manifests)


@dataclass(frozen=True)
class ExpectNone:
    """A `kubectl get -o name` that must list nothing (the cleanup assertions)."""

    context: str
    args: tuple[str, ...]
    what: str

    def argv(self) -> tuple[str, ...]:
        return kubectl(self.context, "get", *self.args, "-o", "name", "--ignore-not-found")


@dataclass(frozen=True)
class Mark:
    """Start the clock of a row of the time-to-Ready table."""

    timer: str
    what: str = ""

    def argv(self) -> tuple[str, ...]:
        return ()


Step = Apply | ApplyUpstream | Command | Wait | Delete | ExpectNone | Mark


@dataclass
class Phase:
    name: str
    steps: list[Step] = field(default_factory=list)


# --- readiness: which condition each kind is waited for, and how a wait is judged

# (group, kind) -> the condition; a kind not listed is waited for until it exists.
READY: dict[tuple[str, str], str] = {
    ("apps", "Deployment"): "condition=Available",
    ("apps", "StatefulSet"): "jsonpath={.status.readyReplicas}={.spec.replicas}",
    ("apps", "DaemonSet"): "jsonpath={.status.numberReady}={.status.desiredNumberScheduled}",
    ("batch", "Job"): "condition=Complete",
    ("", "PersistentVolumeClaim"): "jsonpath={.status.phase}=Bound",
    ("", "Namespace"): "jsonpath={.status.phase}=Active",
    ("helm.toolkit.fluxcd.io", "HelmRelease"): "condition=Ready",
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): "condition=Ready",
    ("source.toolkit.fluxcd.io", "HelmRepository"): "condition=Ready",
    ("source.toolkit.fluxcd.io", "OCIRepository"): "condition=Ready",
    ("source.toolkit.fluxcd.io", "GitRepository"): "condition=Ready",
    ("source.toolkit.fluxcd.io", "Bucket"): "condition=Ready",
    ("postgresql.cnpg.io", "Cluster"): "condition=Ready",
    ("postgresql.cnpg.io", "Database"): "jsonpath={.status.applied}=true",
    ("external-secrets.io", "ExternalSecret"): "condition=Ready",
    ("platform.kratix.io", "Destination"): "condition=Ready",
    ("platform.kratix.io", "BucketStateStore"): "condition=Ready",
    ("platform.kratix.io", "Promise"): "jsonpath={.status.status}=Available",
}
EXISTS = "create"
GONE = "delete"
# A PVC of a WaitForFirstConsumer class binds only once its pod is scheduled: its workload's
# own wait covers it, and a Bound wait would only add noise.
NOT_WAITED: frozenset[tuple[str, str]] = frozenset({("", "PersistentVolumeClaim")})


def ready_condition(api_version: str, kind: str) -> str:
    group = api_version.rpartition("/")[0]
    if (group, kind) in NOT_WAITED:
        return EXISTS
    return READY.get((group, kind), EXISTS)


def _jsonpath(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a `{.a.b.c}` path (dots only: all the conditions above need), or None."""
    if not (path.startswith("{.") and path.endswith("}")):
        raise ValueError(f"{path}: only {{.a.b}} paths are supported")
    value: Any = obj
    for key in path[2:-1].split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def satisfied(condition: str, obj: Mapping[str, Any] | None) -> bool:
    """Whether `obj` (None: not found) meets a `kubectl wait --for` condition.

    create: it exists; delete: it does not; condition=T: its condition T has status True
    (and, when it reports observedGeneration, for its current generation); jsonpath={.p}=V:
    the value at .p is V, where V may itself be a {.path} of the same object.
    """
    if condition == EXISTS:
        return obj is not None
    if condition == GONE:
        return obj is None
    if obj is None:
        return False
    kind, _, rest = condition.partition("=")
    if kind == "condition":
        wanted, _, value = rest.partition("=")
        for cond in obj.get("status", {}).get("conditions", []) or []:
            if cond.get("type") == wanted:
                stale = "observedGeneration" in cond and cond["observedGeneration"] != obj.get("metadata", {}).get("generation", cond["observedGeneration"])
                return not stale and str(cond.get("status")) == (value or "True")
        return False
    if kind == "jsonpath":
        path, _, want = rest.partition("}=")
        have = _jsonpath(obj, path + "}")
        expected = _text(_jsonpath(obj, want)) if want.startswith("{.") else want
        if want.startswith("{.") and expected == "":
            expected = "1" if want == "{.spec.replicas}" else expected  # replicas defaults to 1
        return have is not None and _text(have) == expected
    raise ValueError(f"{condition}: not a condition this suite knows")


def known_condition(condition: str) -> bool:
    """Whether `satisfied` can judge this condition (what the offline test checks)."""
    try:
        satisfied(condition, {"metadata": {}, "status": {}})
    except ValueError:
        return False
    return True
