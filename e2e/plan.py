"""The kind end-to-end suite as data: every manifest it applies, every condition it waits for.

`render(settings, platform_ip)` is a pure function of the repository (promises/, examples/,
examples/platform/destinations.yaml) and the pinned versions below. It runs the local
platform runner (in this process, no cluster) to learn what each promise and each example
writes to which Destination, and turns that into waits on the matching cluster. make test
renders it and validates it (tests/test_e2e_plan.py); run.py executes it.

The platform, as Kratix's quick start builds it (research kratix.md §6), pinned:
- kind clusters: one for the Destination labelled environment=platform (the platform, with
  Kratix) and one per other Destination of examples/platform/destinations.yaml (worker-1,
  environment=dev), node image kindest/node v1.33.1 by digest;
- cert-manager (the release manifest Kratix's quick start applies), Kratix built from its
  source at KRATIX_COMMIT (as `quick-start.sh --local` does: `make distribution`, the image
  built and kind-loaded), MinIO from that commit's hack/platform/minio-install.yaml, a
  BucketStateStore on it;
- Flux (pinned release manifest) on every Destination cluster, with a Bucket on MinIO and the
  two Kustomizations of Kratix's gitops-tk-resources (dependencies, then resources), and the
  Destination objects themselves applied on the platform;
- Destinations that requests create (a VCluster's) are reached through the kubeconfig
  Secret their Flux Kustomizations use.
"""

from __future__ import annotations

import posixpath
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from e2e import install
from e2e.kube import EXISTS, GONE, Apply, ApplyUpstream, Command, Delete, ExpectNone, Mark, Phase, Ref, Wait, kubectl, ready_condition

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
DESTINATIONS_FILE = EXAMPLES_DIR / "platform" / "destinations.yaml"
BUILD_DIR = ROOT / "build" / "e2e"

# Pins. Kratix has no semver releases any more (research §0): pinned by commit, built here.
KRATIX_REPOSITORY = "https://github.com/syntasso/kratix"
KRATIX_COMMIT = "ae170e22e974e45bb7cfda00986057e01b3ccfde"
KIND_VERSION = "v0.29.0"
KIND_NODE_IMAGE = "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f"
CERT_MANAGER_VERSION = "v1.15.0"
# The Flux release whose API versions the vendored CRDs hold (schemas/upstream/flux-crds):
# source v1 (Bucket, HelmRepository, OCIRepository), kustomize v1, helm v2.
FLUX_VERSION = "v2.9.0"
# The quick start's MinIO: in-cluster Service minio:80 (NodePort 31337), bucket kratix.
MINIO_NODE_PORT = 31337
MINIO_SERVICE = "minio.kratix-platform-system.svc.cluster.local"
MINIO_USER = MINIO_PASSWORD = "minioadmin"  # the quick start's; a throwaway kind cluster only
BUCKET = "kratix"
STATE_STORE = "default"
PLATFORM_LABELS = {"environment": "platform"}

TIMEOUT_INSTALL_S = 300
TIMEOUT_PROMISE_S = 600
TIMEOUT_REQUEST_S = 900
TIMEOUT_CLEANUP_S = 600


class PlanError(Exception):
    """The repository cannot be run end to end as it stands: says which file and why."""


@dataclass(frozen=True)
class Settings:
    """Everything the plan depends on besides the repository."""

    kratix_source: Path = BUILD_DIR / "kratix"
    kratix_commit: str = KRATIX_COMMIT
    kratix_image: str = f"syntasso/kratix-platform:e2e-{KRATIX_COMMIT[:12]}"
    node_image: str = KIND_NODE_IMAGE
    cert_manager_version: str = CERT_MANAGER_VERSION
    flux_version: str = FLUX_VERSION


@dataclass(frozen=True)
class Cluster:
    """A kind cluster and the Destinations Flux serves from it."""

    name: str
    destinations: tuple[str, ...]
    platform: bool

    @property
    def context(self) -> str:
        return f"kind-{self.name}"


@dataclass(frozen=True)
class Connection:
    """How to reach a Destination that is no kind cluster: the kubeconfig Secret on its host."""

    context: str  # the context name run.py gives it
    destination: str
    host_context: str
    secret_namespace: str
    secret_name: str
    secret_key: str
    how: str  # where this came from, for messages


@dataclass(frozen=True)
class Placed:
    """One object a promise or request writes, where Flux applies it."""

    destination: str
    obj: Mapping[str, Any]
    source: str  # state-store path


@dataclass
class Plan:
    clusters: list[Cluster]
    phases: list[Phase]
    connections: dict[str, Connection] = field(default_factory=dict)
    # timer label -> promise name: the rows of the time-to-Ready table.
    timers: dict[str, str] = field(default_factory=dict)
    # Everything this plan applies that it renders itself (the offline test validates them).
    manifests: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    def steps(self) -> list[Any]:
        return [step for phase in self.phases for step in phase.steps]


# --- inputs


def load_yaml_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def static_destinations() -> list[dict[str, Any]]:
    documents = load_yaml_all(DESTINATIONS_FILE)
    if not documents:
        raise PlanError(f"{DESTINATIONS_FILE.relative_to(ROOT)}: no Destination")
    return documents


def is_platform(destination: Mapping[str, Any]) -> bool:
    labels = destination.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in PLATFORM_LABELS.items())


def clusters(destinations: list[dict[str, Any]] | None = None) -> list[Cluster]:
    """The platform cluster (every platform-labelled Destination), then one per other Destination."""
    destinations = static_destinations() if destinations is None else destinations
    platform = tuple(d["metadata"]["name"] for d in destinations if is_platform(d))
    if len(platform) != 1:
        raise PlanError(f"{DESTINATIONS_FILE.relative_to(ROOT)}: needs exactly one Destination labelled environment=platform (got {len(platform)})")
    result = [Cluster("platform", platform, True)]
    result += [Cluster(d["metadata"]["name"], (d["metadata"]["name"],), False) for d in destinations if not is_platform(d)]
    return result


def example_files(documents: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Path]]:
    """Every example request with the promise of its kind, as `make demo` applies them:
    examples/platform's first (the VClusters whose Destinations other examples target)."""
    kinds = {str(doc["spec"]["api"]["spec"]["names"]["kind"]): name for name, doc in documents.items()}
    platform = sorted(p for p in (EXAMPLES_DIR / "platform").glob("*.yaml") if p.resolve() != DESTINATIONS_FILE.resolve())
    paths = platform + [p for name in sorted(documents) for p in sorted((EXAMPLES_DIR / name).glob("*.yaml"))]
    found = []
    for path in paths:
        kind = str(load_yaml_all(path)[0].get("kind"))
        if kind not in kinds:
            raise PlanError(f"{path.relative_to(ROOT)}: kind {kind} is no promise's API")
        found.append((kinds[kind], path))
    return found


def resource_of(obj: Mapping[str, Any]) -> str:
    """kubectl's fully qualified resource name: kind.version.group (a core kind alone)."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    kind = str(obj["kind"]).lower()
    return f"{kind}.{version}.{group}" if group else kind


def ref_of(context: str, obj: Mapping[str, Any]) -> Ref:
    metadata = obj.get("metadata", {})
    return Ref(context, resource_of(obj), str(metadata["name"]), str(metadata.get("namespace") or ""))


# --- what the promises and examples write, from the local runner


@dataclass
class Rendered:
    destinations: dict[str, Mapping[str, Any]]  # name -> labels/path/source as the runner saw them
    dependencies: dict[str, list[Placed]]  # promise -> objects
    requests: dict[tuple[str, str], list[Placed]]  # (promise, example path) -> objects
    request_objects: dict[tuple[str, str], dict[str, Any]]
    canaries: list[Placed]


def _objects(state: Path, destination: str, path: str) -> list[Placed]:
    text = (state / path).read_text(encoding="utf-8")
    return [Placed(destination, obj, path) for obj in yaml.safe_load_all(text) if isinstance(obj, dict) and obj.get("kind")]


def render_with_runner(documents: Mapping[str, Mapping[str, Any]]) -> Rendered:
    """Install every promise and apply every example in the local runner; read back the state store."""
    from promisekit.runner import Runner, read_documents

    promise_names = sorted(documents)
    with tempfile.TemporaryDirectory(prefix="e2e-plan-") as tmp:
        state = Path(tmp) / "state"
        runner = Runner(state, destinations_file=DESTINATIONS_FILE, engine="inprocess")
        for outcome in runner.install(read_documents([install.promise_file(n) for n in promise_names])):
            if not outcome.ok:
                raise PlanError(f"promise does not install in the local runner: {outcome.line()}")
        examples = example_files(documents)
        request_objects = {(name, str(path.relative_to(ROOT))): load_yaml_all(path)[0] for name, path in examples}
        for outcome in runner.apply(read_documents([path for _, path in examples])):
            if not outcome.ok:
                raise PlanError(f"example does not apply in the local runner: {outcome.line()}")
        destinations = {d.name: {"labels": dict(d.labels), "path": d.path, "source": d.source} for d in runner.destinations()}
        requests: dict[tuple[str, str], list[Placed]] = {}
        for (name, path), obj in request_objects.items():
            (view,) = runner.get(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace", "default"))
            if view.pending():
                raise PlanError(f"{path}: no e2e Destination takes it ({'; '.join(view.pending())}); {DESTINATIONS_FILE.relative_to(ROOT)} lists the Destinations")
            requests[(name, path)] = [p for dest, files in view.files().items() for f in files for p in _objects(state, dest, f)]
        dependencies: dict[str, list[Placed]] = {name: [] for name in promise_names}
        canaries: list[Placed] = []
        for dest, data in destinations.items():
            root = state / data["path"] / "dependencies" if data["path"] else state / "dependencies"
            for file in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
                relative = file.relative_to(root).as_posix()
                owner = relative.split("/")[0]
                placed = _objects(state, dest, file.relative_to(state).as_posix())
                if owner in dependencies:
                    dependencies[owner].extend(placed)
                elif relative.startswith("kratix-canary"):
                    canaries.extend(placed)
        return Rendered(destinations, dependencies, requests, request_objects, canaries)


def connections(rendered: Rendered, context_of: Mapping[str, str], platform_context: str) -> dict[str, Connection]:
    """For each Destination no kind cluster serves, by the context run.py gives it: the kubeconfig
    Secret its Flux Kustomizations use.

    Found in what was written to the platform: a Flux Kustomization whose path is under the
    Destination's path and which applies through spec.kubeConfig.secretRef (the marketplace
    vcluster promise's way). Else the vcluster chart's own Secret, vc-<name> in namespace
    <name>, key config.
    """
    found: dict[str, Connection] = {}
    platform_objects = [p.obj for placed in rendered.requests.values() for p in placed if context_of.get(p.destination) == platform_context]
    platform_objects += [p.obj for placed in rendered.dependencies.values() for p in placed if context_of.get(p.destination) == platform_context]
    for name, data in sorted(rendered.destinations.items()):
        if name in context_of:
            continue
        prefix = data["path"].strip("/")
        context = f"e2e-{name}"
        for obj in platform_objects:
            if obj.get("kind") != "Kustomization" or not str(obj.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
                continue
            path = posixpath.normpath(str(obj.get("spec", {}).get("path", "")).lstrip("./") or ".")
            secret = obj.get("spec", {}).get("kubeConfig", {}).get("secretRef")
            if secret and (path == prefix or path.startswith(prefix + "/")):
                namespace = str(obj["metadata"].get("namespace") or "default")
                found[context] = Connection(context, name, platform_context, namespace, str(secret["name"]), str(secret.get("key") or "value"), f"Kustomization {namespace}/{obj['metadata']['name']}")
                break
        else:
            found[context] = Connection(context, name, platform_context, name, f"vc-{name}", "config", "the vcluster chart's default Secret")
    return found


# --- the plan


def state_store_manifests() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "minio-credentials", "namespace": "default"},
            "type": "Opaque",
            "stringData": {"accessKeyID": MINIO_USER, "secretAccessKey": MINIO_PASSWORD},
        },
        {
            "apiVersion": "platform.kratix.io/v1alpha1",
            "kind": "BucketStateStore",
            "metadata": {"name": STATE_STORE},
            "spec": {
                "endpoint": MINIO_SERVICE,
                "insecure": True,
                "bucketName": BUCKET,
                "authMethod": "accessKey",
                "secretRef": {"name": "minio-credentials", "namespace": "default"},
            },
        },
    ]


def flux_manifests(destination_path: str, endpoint: str) -> list[dict[str, Any]]:
    """Kratix's gitops-tk-resources for one Destination, on Flux's GA APIs."""
    prefix = f"./{destination_path}" if destination_path else "."
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "minio-credentials", "namespace": "flux-system"},
            "type": "Opaque",
            "stringData": {"accesskey": MINIO_USER, "secretkey": MINIO_PASSWORD},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "Bucket",
            "metadata": {"name": BUCKET, "namespace": "flux-system"},
            "spec": {"interval": "10s", "provider": "generic", "bucketName": BUCKET, "endpoint": endpoint, "insecure": True, "secretRef": {"name": "minio-credentials"}},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "kratix-workload-dependencies", "namespace": "flux-system"},
            "spec": {"interval": "8s", "prune": True, "sourceRef": {"kind": "Bucket", "name": BUCKET}, "path": f"{prefix}/dependencies"},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "kratix-workload-resources", "namespace": "flux-system"},
            "spec": {
                "interval": "3s",
                "prune": True,
                "dependsOn": [{"name": "kratix-workload-dependencies"}],
                "sourceRef": {"kind": "Bucket", "name": BUCKET},
                "path": f"{prefix}/resources",
            },
        },
    ]


def _deployments(context: str, namespace: str, names: list[str], what: str, timeout_s: int = TIMEOUT_INSTALL_S) -> Wait:
    refs = tuple(Ref(context, "deployment.v1.apps", name, namespace) for name in names)
    return Wait(refs, "condition=Available", what, timeout_s)


def _waits(placed: list[Placed], context_of: Mapping[str, str], what: str, timer: str, condition: str | None = None, timeout_s: int = TIMEOUT_REQUEST_S) -> list[Wait]:
    """One Wait per condition: every placed object on its Destination's cluster."""
    by_condition: dict[str, list[Ref]] = {}
    for p in placed:
        cond = condition or ready_condition(str(p.obj["apiVersion"]), str(p.obj["kind"]))
        by_condition.setdefault(cond, []).append(ref_of(context_of[p.destination], p.obj))
    return [Wait(tuple(refs), cond, f"{what}: {len(refs)} object(s) {cond}", timeout_s, timer=timer) for cond, refs in sorted(by_condition.items())]


def render(settings: Settings, platform_ip: str) -> Plan:
    """The whole suite. platform_ip: the platform node's address on kind's network (run.py asks docker)."""
    destinations = static_destinations()
    cluster_list = clusters(destinations)
    platform = cluster_list[0]
    pctx = platform.context
    names = install.promise_names()
    if not names:
        raise PlanError("no promise in promises/")
    documents = {name: install.load_promise(name) for name in names}
    rendered = render_with_runner(documents)
    context_of = {dest: c.context for c in cluster_list for dest in c.destinations}
    conns = connections(rendered, context_of, pctx)
    full_context = {**context_of, **{c.destination: c.context for c in conns.values()}}
    plan = Plan(cluster_list, [], conns)
    src = settings.kratix_source

    def applied(context: str, manifests: list[dict[str, Any]], what: str) -> Apply:
        plan.manifests.extend((what, m) for m in manifests)
        return Apply(context, tuple(manifests), what)

    build = Phase("build Kratix and the images")
    build.steps += [
        Command(("git", "clone", "--quiet", KRATIX_REPOSITORY, str(src)), f"Kratix source ({KRATIX_REPOSITORY})", unless=("test", "-d", str(src / ".git"))),
        Command(("git", "-C", str(src), "fetch", "--quiet", "origin", settings.kratix_commit), "Kratix: the pinned commit", unless=("git", "-C", str(src), "cat-file", "-e", f"{settings.kratix_commit}^{{commit}}")),
        Command(("git", "-C", str(src), "checkout", "--quiet", "--force", "--detach", settings.kratix_commit), f"Kratix at {settings.kratix_commit[:12]}"),
        Command(("make", "-C", str(src), "distribution", f"IMG_TAG={settings.kratix_image}", f"IMG_MIRROR={settings.kratix_image}"), "Kratix: distribution/kratix.yaml for the local image"),
        Command(("docker", "build", "--quiet", "-t", settings.kratix_image, str(src)), f"Kratix image {settings.kratix_image}"),
    ]
    create = Phase("kind clusters")
    for cluster in cluster_list:
        create.steps.append(Command(("kind", "create", "cluster", "--name", cluster.name, "--image", settings.node_image, "--wait", "180s"), f"kind cluster {cluster.name}", unless=("kind", "get", "kubeconfig", "--name", cluster.name)))
    images = sorted({c["image"] for d in documents.values() for wt in d["spec"].get("workflows", {}).values() for ps in wt.values() for p in ps for c in p["spec"]["containers"]})
    for image in [settings.kratix_image, *images]:
        create.steps.append(Command(("kind", "load", "docker-image", image, "--name", platform.name), f"load {image} into {platform.name}"))

    kratix = Phase("platform: cert-manager, MinIO, Kratix, state store")
    cert_manager = f"https://github.com/cert-manager/cert-manager/releases/download/{settings.cert_manager_version}/cert-manager.yaml"
    kratix.steps += [
        ApplyUpstream(pctx, cert_manager, f"cert-manager {settings.cert_manager_version}"),
        _deployments(pctx, "cert-manager", ["cert-manager", "cert-manager-cainjector", "cert-manager-webhook"], "cert-manager: Available"),
        ApplyUpstream(pctx, str(src / "hack" / "platform" / "minio-install.yaml"), "MinIO (Kratix's quick start)"),
        ApplyUpstream(pctx, str(src / "distribution" / "kratix.yaml"), f"Kratix {settings.kratix_commit[:12]}"),
        _deployments(pctx, "kratix-platform-system", ["kratix-platform-controller-manager"], "Kratix: Available"),
        applied(pctx, state_store_manifests(), "state store: BucketStateStore on MinIO"),
        Wait((Ref(pctx, "bucketstatestore.v1alpha1.platform.kratix.io", STATE_STORE),), "condition=Ready", "state store: Ready", TIMEOUT_INSTALL_S),
    ]

    gitops = Phase("Destinations: Flux on each cluster, Destinations registered")
    flux = f"https://github.com/fluxcd/flux2/releases/download/{settings.flux_version}/install.yaml"
    for cluster in cluster_list:
        ctx = cluster.context
        gitops.steps += [
            ApplyUpstream(ctx, flux, f"Flux {settings.flux_version} on {cluster.name}"),
            _deployments(ctx, "flux-system", ["source-controller", "kustomize-controller", "helm-controller"], f"Flux on {cluster.name}: Available"),
        ]
        endpoint = f"{MINIO_SERVICE}:80" if cluster.platform else f"{platform_ip}:{MINIO_NODE_PORT}"
        for dest in cluster.destinations:
            gitops.steps.append(applied(ctx, flux_manifests(rendered.destinations[dest]["path"], endpoint), f"Flux on {cluster.name}: the state store's path of {dest}"))
    gitops.steps.append(applied(pctx, destinations, "the Destinations"))
    gitops.steps.append(Wait(tuple(Ref(pctx, "destination.v1alpha1.platform.kratix.io", d["metadata"]["name"]) for d in destinations), "condition=Ready", "Destinations: Ready", TIMEOUT_INSTALL_S))
    canaries = [p for p in rendered.canaries if p.destination in context_of]
    gitops.steps += _waits(canaries, context_of, "Kratix's canary applied by Flux", "", EXISTS, TIMEOUT_INSTALL_S)

    promises = Phase("promises")
    # Applied together and waited for together, so each row times its own promise alone: Kratix
    # holds a promise whose required promises are not there yet as Unavailable.
    steps = install.install_steps(documents, pctx, timeout_s=TIMEOUT_PROMISE_S, timers=True)
    promises.steps += [step for step in steps if not isinstance(step, Wait)] + [step for step in steps if isinstance(step, Wait)]
    for name in install.install_order(documents):
        timer = f"promise {name}"
        plan.timers[timer] = name
        if documents[name]["spec"].get("workflows", {}).get("promise", {}).get("configure"):
            promises.steps.append(Wait((Ref(pctx, install.PROMISE_RESOURCE, name),), "condition=ConfigureWorkflowCompleted", f"promise {name}: ConfigureWorkflowCompleted", TIMEOUT_PROMISE_S, timer))
        # A vCluster's share arrives once a request creates it: that request's rows wait for it.
        on_clusters = [p for p in rendered.dependencies[name] if p.destination in context_of]
        promises.steps += _waits(on_clusters, context_of, f"promise {name}: its dependencies on the Destinations", timer, timeout_s=TIMEOUT_PROMISE_S)

    requests = Phase("requests: every example")
    namespaces = sorted({str(obj["metadata"].get("namespace") or "default") for obj in rendered.request_objects.values()} - {"default"})
    if namespaces:
        requests.steps.append(applied(pctx, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces], "the examples' namespaces"))
    waits: list[Wait] = []
    for (name, path), obj in rendered.request_objects.items():
        timer = f"{name} {obj['metadata'].get('namespace', 'default')}/{obj['metadata']['name']}"
        plan.timers[timer] = name
        requests.steps += [Mark(timer, path), Apply(pctx, (obj,), f"request {path}")]
        rr = ref_of(pctx, obj)
        waits.append(Wait((rr,), "condition=ConfigureWorkflowCompleted", f"{path}: ConfigureWorkflowCompleted", TIMEOUT_REQUEST_S, timer))
        waits += _waits(rendered.requests[(name, path)], full_context, f"{path}: its workloads", timer)
        for destination in created_destinations(rendered.requests[(name, path)], context_of):
            dependencies = [p for placed in rendered.dependencies.values() for p in placed if p.destination == destination]
            waits += _waits(dependencies, full_context, f"{path}: every promise's dependencies on the new Destination {destination}", timer)
    requests.steps += waits

    cleanup = Phase("cleanup: delete everything, assert it is gone")
    # Requests placed inside a vCluster go first, while its Destination still exists to prune
    # them (a WorkPlacement whose Destination is gone can hang: kratix#166); then the rest.
    inside = {key for key, placed in rendered.requests.items() if any(p.destination not in context_of for p in placed)}
    for wave in ([k for k in rendered.request_objects if k in inside], [k for k in rendered.request_objects if k not in inside]):
        for name, path in wave:
            cleanup.steps.append(Delete(pctx, (rendered.request_objects[(name, path)],), f"request {path}"))
        for name, path in wave:
            cleanup.steps.append(Wait((ref_of(pctx, rendered.request_objects[(name, path)]),), GONE, f"{path}: deleted", TIMEOUT_CLEANUP_S))
            placed = rendered.requests[(name, path)]
            # Inside a vCluster: asked while it stands; its own objects are asked on the host.
            cleanup.steps += _waits(placed, full_context, f"{path}: pruned by Flux", "", GONE, TIMEOUT_CLEANUP_S)
    cleanup.steps += install.uninstall_steps(documents, pctx, timeout_s=TIMEOUT_CLEANUP_S)
    kind_contexts = set(context_of.values())
    for name in reversed(install.install_order(documents)):
        gone = [p for p in rendered.dependencies[name] if full_context[p.destination] in kind_contexts]
        cleanup.steps += _waits(gone, full_context, f"promise {name}: dependencies pruned by Flux", "", GONE, TIMEOUT_CLEANUP_S)
        api = documents[name]["spec"]["api"]
        cleanup.steps += [
            ExpectNone(pctx, ("crd", api["metadata"]["name"]), f"promise {name}: its CRD is gone"),
            ExpectNone(pctx, ("works.platform.kratix.io", "--all-namespaces", "-l", f"kratix.io/promise-name={name}"), f"promise {name}: no Work left"),
            ExpectNone(pctx, ("workplacements.platform.kratix.io", "--all-namespaces", "-l", f"kratix.io/promise-name={name}"), f"promise {name}: no WorkPlacement left"),
        ]
    if namespaces:
        cleanup.steps.append(Delete(pctx, tuple({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces), "the examples' namespaces"))
        cleanup.steps.append(Wait(tuple(Ref(pctx, "namespace", ns) for ns in namespaces), GONE, "the examples' namespaces: deleted", TIMEOUT_CLEANUP_S))
    plan.phases = [build, create, kratix, gitops, promises, requests, cleanup]
    return plan


def created_destinations(placed: list[Placed], context_of: Mapping[str, str]) -> list[str]:
    """The Destinations a request adds to the platform (a VCluster's), by name."""
    return sorted(
        str(p.obj["metadata"]["name"])
        for p in placed
        if p.obj.get("kind") == "Destination" and str(p.obj.get("apiVersion", "")).startswith("platform.kratix.io/") and p.obj["metadata"]["name"] not in context_of
    )


def teardown(cluster_list: list[Cluster]) -> list[Command]:
    return [Command(("kind", "delete", "cluster", "--name", c.name), f"delete kind cluster {c.name}") for c in cluster_list]


def describe(plan: Plan) -> str:
    """The plan as text: each phase, each command (what `python -m e2e.run --dry-run` prints)."""
    lines = []
    for phase in plan.phases:
        lines.append(f"# {phase.name}")
        for step in phase.steps:
            if isinstance(step, Mark):
                lines.append(f"#   clock: {step.timer}")
                continue
            lines.append(" ".join(step.argv()) + f"   # {step.what}")
    for conn in plan.connections.values():
        lines.append(f"# {conn.destination}: reached through Secret {conn.secret_namespace}/{conn.secret_name} key {conn.secret_key} on {conn.host_context} ({conn.how})")
    return "\n".join(lines) + "\n"


__all__ = ["Cluster", "Connection", "Plan", "PlanError", "Settings", "clusters", "describe", "kubectl", "render", "teardown"]
