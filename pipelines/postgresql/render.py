"""PostgreSQL: pure render functions, request and settings in, files and status out."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from promisekit import components, naming
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.promise import Request, condition

PROMISE = "postgresql"
VERSION = "v0.1.0"
RESERVED_DATABASES = ("postgres", "template0", "template1")
SUPERUSER = "postgres"


class Preset(NamedTuple):
    """CPU and memory of each instance; no CPU limit, since a throttled primary stalls every client."""

    cpu_request: str
    memory_request: str
    memory_limit: str

    def resources(self) -> dict[str, Any]:
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request}, "limits": {"memory": self.memory_limit}}


PRESETS: dict[str, Preset] = {
    "small": Preset("100m", "256Mi", "512Mi"),
    "medium": Preset("500m", "1Gi", "2Gi"),
    "large": Preset("2", "4Gi", "8Gi"),
}


def check(request: Request) -> None:
    """The schema's CEL rules, re-checked: Kratix re-runs the pipeline on objects admitted long ago."""
    if not request.name[0].isalpha():
        raise RequestInvalid("metadata.name", "must start with a letter (it names the database's Services)")
    if request.spec["database"] in RESERVED_DATABASES:
        raise RequestInvalid("spec.database", "postgres, template0 and template1 are PostgreSQL's own databases")
    if request.spec["owner"] == SUPERUSER:
        raise RequestInvalid("spec.owner", "postgres is the superuser, which stays disabled")


def configure(request: Request, settings: Mapping[str, Any]) -> Result:
    """One CNPG Cluster (and its ScheduledBackup) on the Destination of the request's environment."""
    spec = request.spec
    database = components.Database(cluster=request.name, namespace=request.namespace, name=spec["database"], owner=spec["owner"])
    backup = components.Backup.from_spec(spec["backup"]) if "backup" in spec else None
    labels = naming.standard_labels(promise=PROMISE, request=request.name, namespace=request.namespace, component="database", version=VERSION)
    objects = components.postgres_cluster(
        database,
        image=settings["postgresql"]["images"][str(spec["version"])],
        storage=spec["storage"],
        storage_class=settings["storage"]["className"],
        instances=spec["instances"],
        resources=PRESETS[spec["size"]].resources(),
        labels=labels,
        backup=backup,
    )
    environment = components.target_environment(request, settings)
    status: dict[str, Any] = {
        "message": f"PostgreSQL {spec['version']} at {database.host}:{components.POSTGRES_PORT}, database {database.name}; credentials in Secret {database.secret}",
        **database.status(),
        "readOnlyHost": database.read_only_host,
        "version": spec["version"],
        "instances": spec["instances"],
        "environment": environment,
        "conditions": [
            condition(request, "ManifestsRendered", ok=True, reason="Rendered", message=f"{len(objects)} objects for environment {environment}"),
        ],
    }
    if backup:
        status["backup"] = {"destinationPath": backup.destination_path, "schedule": backup.schedule, "retention": backup.retention}
    return Result(
        files=components.manifest_files(objects),
        status=status,
        selectors=components.environment_selectors(environment),
    )


def delete(request: Request, settings: Mapping[str, Any]) -> Result:
    """Configure writes nothing outside the state store, so there is nothing to undo here.

    Kratix removes the Work and Flux prunes the Cluster; CNPG deletes its volumes with it.
    Backups already in the object store stay there.
    """
    kept = "; backups in the object store are kept" if request.spec.get("backup") else ""
    return Result(status={"message": f"Deleted: nothing outside the state store to undo; Flux prunes Cluster {request.name} and its volumes{kept}"})


def configure_promise(settings: Mapping[str, Any]) -> Result:
    """The CloudNativePG operator on every Destination, for PostgreSQL and DevEnvironment databases alike."""
    chart = settings["charts"]["cloudnativePg"]
    labels = naming.dependency_labels(promise=PROMISE, component="operator", version=VERSION)
    repository, tag = chart["operatorImage"].rsplit(":", 1)
    objects = components.helm_release(
        name="cloudnative-pg",
        namespace=chart["namespace"],
        chart=chart,
        values={"image": {"repository": repository, "tag": tag}, "crds": {"create": True}},
        labels=labels,
    )
    return Result(
        files=components.manifest_files(objects),
        status={"message": "CloudNativePG delivered through Flux"},
    )
