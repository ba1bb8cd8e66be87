"""DevEnvironment: pure render functions, request and settings in, files and status out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit import components, naming, security
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.promise import Request, condition
from promisekit.render import render_objects

PROMISE = "devenvironment"
VERSION = "v0.1.0"
TEMPLATES = Path(__file__).resolve().parent / "templates"
CODER_UID = 1000
# Private, shared and link-local ranges: "internet" egress never reaches the LAN or cloud metadata.
PRIVATE_RANGES = ("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16")
RESERVED_ENV = frozenset({"HOME", "PASSWORD", "HASHED_PASSWORD", "DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"})
SECRET_LIKE_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)")


class Size(NamedTuple):
    """One size preset: what the workspace and its database get."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    home_storage: str
    db_storage: str

    def resources(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


SIZES: dict[str, Size] = {
    "small": Size("250m", "1", "1Gi", "2Gi", "5Gi", "1Gi"),
    "medium": Size("500m", "2", "2Gi", "4Gi", "10Gi", "5Gi"),
    "large": Size("1", "4", "4Gi", "8Gi", "20Gi", "10Gi"),
}
DB_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
HELPER_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def check(request: Request) -> None:
    """The schema's CEL rules, re-checked: Kratix re-runs the pipeline on objects admitted long ago."""
    for index, item in enumerate(request.spec.get("env", [])):
        where = f"spec.env[{index}]"
        if ("value" in item) == ("secretKeyRef" in item):
            raise RequestInvalid(where, "set exactly one of value and secretKeyRef")
        if "value" in item and SECRET_LIKE_NAME.search(item["name"]):
            raise RequestInvalid(f"{where}.name", "a variable named like a secret must use secretKeyRef, not value")
        if item["name"] in RESERVED_ENV:
            raise RequestInvalid(f"{where}.name", f"{item['name']} is set by the platform")


def configure(request: Request, settings: Mapping[str, Any]) -> Result:
    """Everything one DevEnvironment gets on its Destination."""
    spec = request.spec
    size = SIZES[spec["size"]]
    names = _Names(request.name)
    labels = naming.standard_labels(
        promise=PROMISE, request=request.name, namespace=request.namespace, component="workspace", version=VERSION
    )
    selector = naming.selector_labels(promise=PROMISE, request=request.name, component="workspace")
    devenv = settings["devEnvironment"]
    workspace_image = spec.get("image") or devenv["toolchainImages"][spec["language"]]
    storage_class = settings["storage"]["className"]
    environment = components.target_environment(request, settings)
    # One host name per environment: their vClusters' Ingresses meet in the host's controller.
    host = f"{request.name}.{environment}.{settings['domain']}"
    tls = bool(settings["ingress"]["clusterIssuer"])
    url = f"{'https' if tls else 'http'}://{host}"

    database = components.Database(cluster=names.database, namespace=request.namespace) if spec["db"] else None
    objects: list[dict[str, Any]] = []
    if database:
        db_labels = {**labels, "app.kubernetes.io/component": "database"}
        objects += components.postgres_cluster(
            database,
            image=settings["postgresql"]["images"][str(devenv["postgresVersion"])],
            storage=size.db_storage,
            storage_class=storage_class,
            instances=1,
            resources=DB_RESOURCES,
            labels=db_labels,
        )
    objects += render_objects(
        TEMPLATES,
        "workspace.yaml.j2",
        name=request.name,
        namespace=request.namespace,
        labels=labels,
        selector=selector,
        password_secret=names.password,
        password_generator=names.password_generator,
        home_claim=names.home,
        storage=spec.get("storage") or size.home_storage,
        storage_class=storage_class,
        code_server_image=devenv["codeServerImage"],
        workspace_image=workspace_image,
        git=spec.get("git"),
        env=_workspace_env(request, names, database),
        resources=size.resources(),
        helper_resources=HELPER_RESOURCES,
        pod_security=security.pod_security_context(uid=CODER_UID, fs_group=CODER_UID),
        container_security=security.container_security_context(),
        host=host,
        ingress_class=settings["ingress"]["className"],
        ingress_annotations=_ingress_annotations(settings),
        tls_secret=names.tls if tls else "",
        ingress_namespace=settings["ingress"]["controllerNamespace"],
        egress=_egress_rules(spec["network"], settings, database),
    )
    password_command = (
        f"kubectl get secret {names.password} -n {request.namespace} -o jsonpath='{{.data.password}}' | base64 -d"
    )
    message = f"Workspace at {url}" + (f"; database Secret {database.secret}" if database else "")
    status: dict[str, Any] = {
        "message": message,
        "url": url,
        "environment": environment,
        "workspaceImage": workspace_image,
        "passwordSecret": {"name": names.password, "key": "password"},
        "passwordCommand": password_command,
        "conditions": [
            condition(request, "ManifestsRendered", ok=True, reason="Rendered", message=f"{len(objects)} objects for environment {environment}"),
        ],
    }
    if database:
        status["database"] = database.status()
    return Result(
        files=components.manifest_files(objects),
        status=status,
        selectors=components.environment_selectors(environment),
    )


def delete(request: Request, settings: Mapping[str, Any]) -> Result:
    """Configure writes nothing outside the state store, so there is nothing to undo here.

    Kratix removes the Work and Flux prunes every object, the home volume and the database included.
    """
    names = _Names(request.name)
    pruned = f"PersistentVolumeClaim {names.home}" + (f" and database {names.database}" if request.spec.get("db") else "")
    return Result(
        status={
            "message": f"Deleted: nothing outside the state store to undo; Flux prunes the workspace, {pruned}",
        }
    )


def configure_promise(settings: Mapping[str, Any]) -> Result:
    """External Secrets on every Destination; the CloudNativePG operator comes with the postgresql promise."""
    chart = settings["charts"]["externalSecrets"]
    labels = naming.dependency_labels(promise=PROMISE, component="operator", version=VERSION)
    objects = components.helm_release(name="external-secrets", namespace=chart["namespace"], chart=chart, values={"installCRDs": True}, labels=labels)
    return Result(
        files=components.manifest_files(objects),
        status={"message": "External Secrets delivered through Flux (CloudNativePG comes with the postgresql promise)"},
    )


class _Names(NamedTuple):
    request: str

    @property
    def password(self) -> str:
        return naming.object_name(self.request, "code-server")

    @property
    def password_generator(self) -> str:
        return naming.object_name(self.request, "code-server-password")

    @property
    def home(self) -> str:
        return naming.object_name(self.request, "home")

    @property
    def database(self) -> str:
        return naming.object_name(self.request, "db")

    @property
    def tls(self) -> str:
        return naming.object_name(self.request, "tls")


def _workspace_env(request: Request, names: _Names, database: components.Database | None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/home/coder"},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": names.password, "key": "password"}}},
        # Toolchain caches live in the home volume: the image's own directories are read-only.
        {"name": "CARGO_HOME", "value": "/home/coder/.cargo"},
        {"name": "GOPATH", "value": "/home/coder/go"},
        {"name": "npm_config_prefix", "value": "/home/coder/.npm-global"},
        {"name": "PIP_USER", "value": "1"},
    ]
    if database:
        env += database.env()
    for item in request.spec.get("env", []):
        if "secretKeyRef" in item:
            env.append({"name": item["name"], "valueFrom": {"secretKeyRef": dict(item["secretKeyRef"])}})
        else:
            env.append({"name": item["name"], "value": item["value"]})
    return env


def _ingress_annotations(settings: Mapping[str, Any]) -> dict[str, str]:
    # code-server is one long-lived WebSocket: the controller's 60 s default idles it out (code 1006).
    annotations = {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-body-size": "64m",
    }
    if settings["ingress"]["clusterIssuer"]:
        annotations["cert-manager.io/cluster-issuer"] = settings["ingress"]["clusterIssuer"]
    return annotations


def _egress_rules(network: Mapping[str, Any], settings: Mapping[str, Any], database: components.Database | None) -> list[dict[str, Any]]:
    dns = settings["dns"]
    rules: list[dict[str, Any]] = [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns["namespace"]}},
                    "podSelector": {"matchLabels": dict(dns["podLabels"])},
                }
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]
    if database:
        rules.append(
            {
                "to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": database.cluster}}}],
                "ports": [{"port": components.POSTGRES_PORT, "protocol": "TCP"}],
            }
        )
    if network["egress"] == "internet":
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}]})
    if network.get("allowCIDRs"):
        rules.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in network["allowCIDRs"]]})
    return rules
