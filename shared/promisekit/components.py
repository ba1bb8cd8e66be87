"""Building blocks more than one promise renders: a Flux-delivered chart, a CNPG database,
and the environment a request's workload lands in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit.contract import Selector
from promisekit.errors import RequestInvalid
from promisekit.promise import Request
from promisekit.render import render_objects
from promisekit.yamlio import dump_one

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLUX_NAMESPACE = "flux-system"
POSTGRES_PORT = 5432


PLATFORM_ENVIRONMENT = "platform"


def target_environment(request: Request, settings: Mapping[str, Any]) -> str:
    """The environment a request names, else the platform's default (design §8); never the
    host's own (the schemas' CEL says so too; Kratix re-runs requests admitted long ago)."""
    environment = request.spec.get("environment") or settings["environments"]["default"]
    if environment == PLATFORM_ENVIRONMENT:
        raise RequestInvalid("spec.environment", "platform is the host cluster's own environment: workloads run on the Destinations it serves")
    return environment


def environment_selectors(environment: str) -> list[Selector]:
    """Where a request's workload goes: a Destination labelled with its environment."""
    return [Selector(match_labels={"environment": environment})]


def manifest_file_name(obj: Mapping[str, Any]) -> str:
    """<kind>-<name>.yaml, the output file of one object."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def manifest_files(objects: list[dict[str, Any]]) -> dict[str, str]:
    """Output files, one object each, named <kind>-<name>.yaml."""
    return {manifest_file_name(obj): dump_one(obj) for obj in objects}


def helm_release(
    *,
    name: str,
    namespace: str,
    chart: Mapping[str, Any],
    values: Mapping[str, Any],
    labels: Mapping[str, str],
    pod_security: str = "restricted",
) -> list[dict[str, Any]]:
    """Namespace, HelmRepository and HelmRelease for one upstream chart (design §2)."""
    namespace_labels = {
        **labels,
        "kubernetes.io/metadata.name": namespace,
        "pod-security.kubernetes.io/enforce": pod_security,
    }
    return render_objects(
        TEMPLATES,
        "helm-release.yaml.j2",
        name=name,
        namespace=namespace,
        namespace_labels=namespace_labels,
        flux_namespace=FLUX_NAMESPACE,
        chart=chart,
        values=values,
        labels=labels,
    )


class Database(NamedTuple):
    """Where a CNPG database is reached, and the Secret CNPG generates for it."""

    cluster: str
    namespace: str
    name: str = "app"
    owner: str = "app"

    @property
    def secret(self) -> str:
        return f"{self.cluster}-app"

    @property
    def host(self) -> str:
        """The primary's Service, by the name that resolves from every namespace of the Destination."""
        return f"{self.cluster}-rw.{self.namespace}.svc"

    @property
    def read_only_host(self) -> str:
        return f"{self.cluster}-ro.{self.namespace}.svc"

    def env(self) -> list[dict[str, Any]]:
        """Connection env vars, each a secretKeyRef into the generated Secret, never a value."""
        keys = (
            ("DB_HOST", "host"),
            ("DB_PORT", "port"),
            ("DB_NAME", "dbname"),
            ("DB_USER", "username"),
            ("DB_PASSWORD", "password"),
            ("DATABASE_URL", "uri"),
        )
        return [{"name": var, "valueFrom": {"secretKeyRef": {"name": self.secret, "key": key}}} for var, key in keys]

    def status(self) -> dict[str, Any]:
        return {"secretName": self.secret, "host": self.host, "port": POSTGRES_PORT, "database": self.name}


class Backup(NamedTuple):
    """Base backups and WAL archived to an S3-compatible store; its keys stay in a Secret the user owns."""

    destination_path: str
    credentials_secret: str
    access_key_id_key: str
    secret_access_key_key: str
    schedule: str
    retention: str
    endpoint_url: str = ""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Backup:
        credentials = spec["credentials"]
        return cls(
            destination_path=spec["destinationPath"],
            credentials_secret=credentials["name"],
            access_key_id_key=credentials["accessKeyIdKey"],
            secret_access_key_key=credentials["secretAccessKeyKey"],
            schedule=spec["schedule"],
            retention=spec["retention"],
            endpoint_url=spec.get("endpointURL", ""),
        )


def postgres_cluster(
    database: Database,
    *,
    image: str,
    storage: str,
    storage_class: str,
    instances: int,
    resources: Mapping[str, Any],
    labels: Mapping[str, str],
    backup: Backup | None = None,
) -> list[dict[str, Any]]:
    """A CNPG Cluster, and with a backup its ScheduledBackup: DevEnvironment's db and the PostgreSQL promise."""
    return render_objects(
        TEMPLATES,
        "cnpg-cluster.yaml.j2",
        name=database.cluster,
        namespace=database.namespace,
        database=database.name,
        owner=database.owner,
        image=image,
        storage=storage,
        storage_class=storage_class,
        instances=instances,
        resources=resources,
        labels=labels,
        backup=backup,
    )
