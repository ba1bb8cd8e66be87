"""Building blocks more than one promise renders: a Flux-delivered chart, a CNPG database."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

from promisekit.render import render_objects

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLUX_NAMESPACE = "flux-system"
POSTGRES_PORT = 5432


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
        return f"{self.cluster}-rw"

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


def postgres_cluster(
    database: Database,
    *,
    image: str,
    storage: str,
    storage_class: str,
    instances: int,
    resources: Mapping[str, Any],
    labels: Mapping[str, str],
) -> list[dict[str, Any]]:
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
    )
