"""The PostgreSQL promise: a CloudNativePG Cluster, its operator, and the rendering it shares
with DevEnvironment's db: true."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pipelines.devenvironment import PROMISE as DEVENVIRONMENT
from pipelines.postgresql import PROMISE
from pipelines.postgresql.render import PRESETS
from promisekit import settings as platform_settings
from promisekit.contract import Result
from promisekit.promise import parse_request

SETTINGS = platform_settings.load_file()
BACKUP = {
    "destinationPath": "s3://backups/orders",
    "endpointURL": "https://minio.lab.local:9000",
    "credentials": {"name": "orders-s3"},
}


def render(spec: dict[str, Any], *, name: str = "orders", namespace: str = "shop") -> Result:
    obj = {"apiVersion": "platform.homelab.io/v1", "kind": "PostgreSQL", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return PROMISE.configure(parse_request(PROMISE, obj), SETTINGS)


def objects(result: Result) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in (yaml.safe_load(t) for t in result.files.values())}


def cluster(result: Result) -> dict[str, Any]:
    return next(o for k, o in objects(result).items() if k.startswith("Cluster/"))


@pytest.mark.parametrize(
    ("spec", "want", "expected", "reason"),
    [
        ({}, lambda r: cluster(r)["spec"]["imageName"], SETTINGS["postgresql"]["images"]["18"], "the default major is 18, its image pinned in the settings"),
        ({"version": 16}, lambda r: cluster(r)["spec"]["imageName"], SETTINGS["postgresql"]["images"]["16"], "each major maps to its pinned image"),
        ({"instances": 3}, lambda r: cluster(r)["spec"]["instances"], 3, "instances: a primary and replicas"),
        ({"storage": "50Gi"}, lambda r: cluster(r)["spec"]["storage"]["size"], "50Gi", "storage is each instance's volume"),
        ({"size": "large"}, lambda r: cluster(r)["spec"]["resources"], PRESETS["large"].resources(), "the size preset sets the resources, without a CPU limit"),
        ({"database": "orders", "owner": "shop"}, lambda r: cluster(r)["spec"]["bootstrap"]["initdb"], {"database": "orders", "owner": "shop"}, "initdb creates the database and its owner"),
        ({}, lambda r: [k for k in objects(r) if k.startswith("ScheduledBackup/")], [], "no backup unless asked for"),
        ({"backup": BACKUP}, lambda r: cluster(r)["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]["accessKeyId"], {"name": "orders-s3", "key": "ACCESS_KEY_ID"}, "the S3 keys are a reference into the user's Secret, never a value"),
        ({"backup": BACKUP}, lambda r: cluster(r)["spec"]["backup"]["barmanObjectStore"]["endpointURL"], "https://minio.lab.local:9000", "an S3-compatible store of the LAN"),
        ({"backup": BACKUP}, lambda r: objects(r)["ScheduledBackup/orders"]["spec"]["cluster"], {"name": "orders"}, "a ScheduledBackup of the Cluster"),
        ({}, lambda r: (r.status["host"], r.status["port"], r.status["database"], r.status["secretName"]), ("orders-rw.shop.svc", 5432, "app", "orders-app"), "status: host, port, database and the credentials' Secret"),
        ({"environment": "staging"}, lambda r: [s.match_labels for s in r.selectors], [{"environment": "staging"}], "the environment is the destination selector"),
    ],
)
def test_render(spec: dict[str, Any], want: Any, expected: Any, reason: str) -> None:
    assert want(render(spec)) == expected, reason


def test_the_operator_is_delivered_through_flux_pinned() -> None:
    result = PROMISE.configure_promise(SETTINGS)  # type: ignore[misc]
    release = objects(result)["HelmRelease/cloudnative-pg"]
    repository, tag = SETTINGS["charts"]["cloudnativePg"]["operatorImage"].rsplit(":", 1)
    assert release["spec"]["values"]["image"] == {"repository": repository, "tag": tag}
    assert release["spec"]["chart"]["spec"]["version"] == SETTINGS["charts"]["cloudnativePg"]["version"]
    assert set(objects(result)) == {"Namespace/cnpg-system", "HelmRepository/cloudnative-pg", "HelmRelease/cloudnative-pg"}


def test_devenvironment_db_renders_the_same_cluster_through_the_same_code() -> None:
    """db: true is a PostgreSQL request of one instance: the same Cluster, but for names and sizes."""
    devenv = {"apiVersion": "platform.homelab.io/v1", "kind": "DevEnvironment", "metadata": {"name": "orders", "namespace": "shop"}, "spec": {"language": "go", "db": True}}
    workspace = DEVENVIRONMENT.configure(parse_request(DEVENVIRONMENT, devenv), SETTINGS)
    theirs = next(yaml.safe_load(t) for n, t in workspace.files.items() if n.startswith("cluster-"))
    ours = cluster(render({"storage": theirs["spec"]["storage"]["size"], "version": SETTINGS["devEnvironment"]["postgresVersion"]}, name="orders-db"))
    # What says which promise and request made it, and the size presets: the rest is one rendering.
    owner = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "kratix.io/promise-name", "platform.homelab.io/request-name")
    for obj in (theirs, ours):
        obj["spec"].pop("resources")
        for labels in (obj["metadata"]["labels"], obj["spec"]["inheritedMetadata"]["labels"]):
            for key in owner:
                labels.pop(key)
    assert theirs == ours
