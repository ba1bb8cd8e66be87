"""VCluster: pure render functions, request and settings in, files and status out.

Everything lands on the platform Destination (the host cluster): the vCluster's Helm
release, the Flux objects that feed it its Destination's files, and the Destination itself,
which Kratix registers once Flux has applied it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit import components, naming
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.promise import Request, condition
from promisekit.render import render_objects

PROMISE = "vcluster"
VERSION = "v0.1.0"
TEMPLATES = Path(__file__).resolve().parent / "templates"
KUBECONFIG_KEY = "config"
HASH_LENGTH = 6
# The control plane's pod and vCluster's CoreDNS count against the quota's pods too.
CONTROL_PLANE_PODS = 2
# The vCluster Service's port 443 forwards to the API server's 8443.
API_SERVER_PORT = 8443


class Preset(NamedTuple):
    """One size: the quota of the whole virtual cluster, container defaults, and the control plane."""

    quota_cpu: str
    quota_memory: str
    quota_cpu_limit: str
    quota_memory_limit: str
    quota_storage: str
    quota_pods: int
    container_cpu: str
    container_memory: str
    container_cpu_request: str
    container_memory_request: str
    control_plane_cpu: str
    control_plane_memory: str
    control_plane_memory_limit: str
    persistence: str


PRESETS: dict[str, Preset] = {
    "small": Preset("2", "4Gi", "4", "8Gi", "20Gi", 20, "1", "512Mi", "100m", "128Mi", "200m", "256Mi", "2Gi", "5Gi"),
    "medium": Preset("4", "8Gi", "8", "16Gi", "50Gi", 50, "2", "1Gi", "100m", "256Mi", "500m", "512Mi", "4Gi", "10Gi"),
    "large": Preset("8", "16Gi", "16", "32Gi", "200Gi", 100, "4", "2Gi", "250m", "512Mi", "1", "1Gi", "8Gi", "20Gi"),
}


class Names(NamedTuple):
    """What one VCluster request is called on the host and in Kratix."""

    release: str
    namespace: str

    @classmethod
    def of(cls, request: Request) -> Names:
        return cls(release=request.name, namespace=host_name(request.namespace, request.name))

    @property
    def destination(self) -> str:
        return self.namespace

    @property
    def flux_kustomization(self) -> str:
        return f"{self.release}-flux"

    @property
    def dependencies_kustomization(self) -> str:
        return f"{self.release}-dependencies"

    @property
    def resources_kustomization(self) -> str:
        return f"{self.release}-resources"

    @property
    def kubeconfig_secret(self) -> str:
        return f"{self.release}-kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.release}.{self.namespace}.svc:443"

    @property
    def connect_command(self) -> str:
        return f"vcluster connect {self.release} -n {self.namespace}"


def check(request: Request) -> None:
    """The schema's CEL rules, re-checked (Kratix re-runs the pipeline on objects admitted long
    ago), and what CEL cannot say: that the quota leaves room for the control plane itself."""
    spec = request.spec
    if not request.name[0].isalpha():
        raise RequestInvalid("metadata.name", "must start with a letter (it names the vCluster's Service)")
    if spec["environment"] == components.PLATFORM_ENVIRONMENT:
        raise RequestInvalid("spec.environment", "platform is the host cluster's own environment")
    if "allowCIDRs" in spec["isolation"] and not spec["isolation"]["network"]:
        raise RequestInvalid("spec.isolation.allowCIDRs", "only applies with isolation.network: true")
    preset = PRESETS[spec["size"]]
    quota = spec["quota"]
    # The control plane runs in the quota's namespace: a quota below its own needs never lets it start.
    floors = (
        ("memory", preset.control_plane_memory, "the control plane's memory request"),
        ("memoryLimit", preset.control_plane_memory_limit, "the control plane's memory limit"),
        ("storage", volume_size(spec), "the control plane's volume"),
    )
    for field, floor, what in floors:
        if field in quota and _bytes(quota[field]) < _bytes(floor):
            raise RequestInvalid(f"spec.quota.{field}", f"guardrail quota-floor: must leave room for {what} ({floor}; got {quota[field]})")
    if quota.get("pods", CONTROL_PLANE_PODS) < CONTROL_PLANE_PODS:
        raise RequestInvalid("spec.quota.pods", f"guardrail quota-floor: must leave room for the control plane and its DNS ({CONTROL_PLANE_PODS} pods; got {quota['pods']})")


def volume_size(spec: Mapping[str, Any]) -> str:
    return spec["persistence"].get("size") or PRESETS[spec["size"]].persistence


def guard(request: Request, settings: Mapping[str, Any]) -> None:
    """What depends on the platform settings or on what was rendered before (the request's status)."""
    spec = request.spec
    if spec["isolation"]["podSecurity"] == "privileged" and not settings["vcluster"]["allowPrivileged"]:
        raise RequestInvalid(
            "spec.isolation.podSecurity",
            "guardrail privileged: a privileged vCluster makes its host namespace privileged; the platform setting vcluster.allowPrivileged is off",
        )
    # A StatefulSet's volumeClaimTemplates cannot change: a new size would fail every upgrade after.
    rendered = request.status.get("volumeSize")
    if rendered and rendered != volume_size(spec):
        raise RequestInvalid(
            "spec.persistence.size",
            f"the control plane's volume is {rendered} and cannot be resized (got {volume_size(spec)}); set persistence.size: {rendered} to change the size preset",
        )


def configure(request: Request, settings: Mapping[str, Any]) -> Result:
    """The vCluster, the Flux objects that fill it, and its Destination: all on the host."""
    guard(request, settings)
    spec = request.spec
    names = Names.of(request)
    environment = spec["environment"]
    labels = naming.standard_labels(promise=PROMISE, request=request.name, namespace=request.namespace, component="vcluster", version=VERSION)
    kubernetes_image = _kubernetes_image(settings["vcluster"]["kubernetesImage"], spec.get("kubernetesVersion"))
    store = settings["stateStore"]
    objects = render_objects(
        TEMPLATES,
        "vcluster.yaml.j2",
        names=names,
        labels=labels,
        namespace_labels={
            **labels,
            "kubernetes.io/metadata.name": names.namespace,
            # The control plane runs as root (baseline), and synced workloads run in this namespace too.
            "pod-security.kubernetes.io/enforce": "privileged" if spec["isolation"]["podSecurity"] == "privileged" else "baseline",
        },
        destination_labels={**labels, "environment": environment, "type": PROMISE},
        chart=settings["vcluster"]["chart"],
        flux_manifests=settings["vcluster"]["fluxManifests"],
        flux_patches=FLUX_PATCHES,
        values=vcluster_values(request, settings),
        kubeconfig_key=KUBECONFIG_KEY,
        state_store={"kind": store["kind"], "name": store["name"]},
        flux_source=store["flux"],
        dependencies_path=_store_path(store["path"], names.destination, "dependencies"),
        resources_path=_store_path(store["path"], names.destination, "resources"),
    )
    status: dict[str, Any] = {
        "message": f"Destination {names.destination} for environment {environment}, registered once Flux applies it; connect with: {names.connect_command}",
        "destination": names.destination,
        "environment": environment,
        "namespace": names.namespace,
        "kubernetesVersion": kubernetes_image["tag"],
        "volumeSize": volume_size(spec),
        "server": names.server,
        "kubeconfigSecret": {"name": names.kubeconfig_secret, "namespace": names.namespace, "key": KUBECONFIG_KEY},
        "connectCommand": names.connect_command,
        "conditions": [
            condition(request, "ManifestsRendered", ok=True, reason="Rendered", message=f"{len(objects)} objects for the platform Destination"),
        ],
    }
    return Result(
        files=components.manifest_files(objects),
        status=status,
        selectors=components.environment_selectors(components.PLATFORM_ENVIRONMENT),
    )


def delete(request: Request, settings: Mapping[str, Any]) -> Result:
    """Configure writes nothing outside the state store, so there is nothing to undo here.

    Kratix removes the Work; Flux prunes the Destination, the vCluster and its host namespace.
    """
    names = Names.of(request)
    environment = request.spec.get("environment", "")
    return Result(
        status={
            "message": (
                f"Deleted: nothing outside the state store to undo; Flux prunes Destination {names.destination} and namespace {names.namespace} "
                f"with the vCluster and every workload in it; requests placed there wait for another Destination with environment={environment}"
            )
        }
    )


# Flux's release manifests carry every controller; the HelmReleases of promise dependencies need
# only source and helm: the host's Flux applies the Destination's files.
UNUSED_FLUX_CONTROLLERS = ("kustomize-controller", "notification-controller", "image-reflector-controller", "image-automation-controller")
FLUX_PATCHES: list[dict[str, Any]] = [
    {
        "target": {"kind": "Deployment", "name": f"({'|'.join(UNUSED_FLUX_CONTROLLERS)})"},
        "patch": "$patch: delete\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: unused\n",
    }
]


def vcluster_values(request: Request, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The chart values (vcluster.yaml); they validate against the vendored values.schema.json."""
    spec = request.spec
    names = Names.of(request)
    preset = PRESETS[spec["size"]]
    quota, limits = spec["quota"], spec["limits"]
    volume: dict[str, Any] = {"size": volume_size(spec)}
    if settings["storage"]["className"]:
        volume["storageClass"] = settings["storage"]["className"]
    ingresses = spec["sync"]["ingresses"]
    return {
        "controlPlane": {
            "distro": {"k8s": {"enabled": True, "image": _kubernetes_image(settings["vcluster"]["kubernetesImage"], spec.get("kubernetesVersion"))}},
            "statefulSet": {
                "image": _image_parts(settings["vcluster"]["syncerImage"]),
                "resources": {
                    "requests": {"cpu": preset.control_plane_cpu, "memory": preset.control_plane_memory},
                    "limits": {"memory": preset.control_plane_memory_limit},
                },
                "persistence": {"volumeClaim": volume},
            },
        },
        # The default kubeconfig points at localhost:8443, which no other pod can reach.
        "exportKubeConfig": {
            "context": names.release,
            "server": names.server,
            "additionalSecrets": [{"name": names.kubeconfig_secret, "namespace": names.namespace, "server": names.server, "context": names.release}],
        },
        "sync": {
            "toHost": {"ingresses": {"enabled": ingresses}},
            "fromHost": {"ingressClasses": {"enabled": ingresses}},
        },
        "policies": {
            "podSecurityStandard": spec["isolation"]["podSecurity"],
            "resourceQuota": {
                "enabled": True,
                "quota": {
                    "requests.cpu": quota.get("cpu") or preset.quota_cpu,
                    "requests.memory": quota.get("memory") or preset.quota_memory,
                    "limits.cpu": quota.get("cpuLimit") or preset.quota_cpu_limit,
                    "limits.memory": quota.get("memoryLimit") or preset.quota_memory_limit,
                    "requests.storage": quota.get("storage") or preset.quota_storage,
                    "count/pods": quota.get("pods") or preset.quota_pods,
                },
            },
            "limitRange": {
                "enabled": True,
                "default": {"cpu": limits.get("cpu") or preset.container_cpu, "memory": limits.get("memory") or preset.container_memory},
                "defaultRequest": {"cpu": limits.get("cpuRequest") or preset.container_cpu_request, "memory": limits.get("memoryRequest") or preset.container_memory_request},
            },
            "networkPolicy": _network_policy(spec["isolation"], ingresses, settings),
        },
        # A homelab's clusters do not report home.
        "telemetry": {"enabled": False},
    }


def _network_policy(isolation: Mapping[str, Any], ingresses: bool, settings: Mapping[str, Any]) -> dict[str, Any]:
    if not isolation["network"]:
        return {"enabled": False}
    policy: dict[str, Any] = {
        "enabled": True,
        # The host's Flux applies this Destination's files through the API server.
        "controlPlane": {"ingress": [{"from": [_namespace_peer(components.FLUX_NAMESPACE)], "ports": [{"port": API_SERVER_PORT, "protocol": "TCP"}]}]},
    }
    workload: dict[str, Any] = {}
    if ingresses:
        workload["ingress"] = [{"from": [_namespace_peer(settings["ingress"]["controllerNamespace"])]}]
    # Beside vCluster's own public-egress rule, which leaves out every private range.
    if isolation.get("allowCIDRs"):
        workload["egress"] = [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in isolation["allowCIDRs"]]}]
    if workload:
        policy["workload"] = workload
    return policy


def _bytes(quantity: str) -> int:
    """A quantity the schema admits (whole Mi or Gi) in bytes."""
    return int(quantity[:-2]) * {"Mi": 2**20, "Gi": 2**30}[quantity[-2:]]


def _store_path(*parts: str) -> str:
    """A Kustomization path: relative to the root of the Flux source that reads the state store."""
    return "./" + "/".join(p for p in parts if p)


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def _image_parts(image: str) -> dict[str, str]:
    """The chart's {registry, repository, tag} of an image pinned by tag (the settings schema allows no digest)."""
    name, _, tag = image.rpartition(":")
    first, _, rest = name.partition("/")
    # Docker's rule: a first part with a dot or a port is a registry, else it is Docker Hub.
    registry, repository = (first, rest) if rest and ("." in first or ":" in first or first == "localhost") else ("", name)
    return {"registry": registry, "repository": repository, "tag": tag}


def _kubernetes_image(image: str, version: str | None) -> dict[str, str]:
    parts = _image_parts(image)
    return {**parts, "tag": version or parts["tag"]}


def host_name(namespace: str, name: str) -> str:
    """The host namespace, and the Destination's name: vcluster-<namespace>-<name>, both parts in
    it because Destinations and namespaces are cluster-wide. When a part holds a '-' (team-a/web
    and team/a-web would meet) or the name passes 63 characters, a hash of namespace/name ends it."""
    joined = f"{PROMISE}-{namespace}-{name}"
    if "-" not in namespace and "-" not in name and len(joined) <= naming.MAX_NAME:
        return joined
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:HASH_LENGTH]
    return f"{joined[: naming.MAX_NAME - HASH_LENGTH - 1].rstrip('-')}-{digest}"
