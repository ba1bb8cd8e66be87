"""Table-driven unit tests of the DevEnvironment render functions, called directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

import harness
from pipelines.devenvironment import PROMISE
from pipelines.devenvironment.render import SIZES
from promisekit import settings as platform_settings
from promisekit.contract import Result
from promisekit.promise import parse_request
from promisekit.yamlio import load_one

SETTINGS = platform_settings.load_file()


def render(spec: dict[str, Any], *, name: str = "demo", namespace: str = "team-a", platform: dict[str, Any] | None = None) -> Result:
    obj = {"apiVersion": "platform.homelab.io/v1", "kind": "DevEnvironment", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return PROMISE.configure(parse_request(PROMISE, obj), platform or SETTINGS)


def objects(result: Result) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in (load_one(t) for t in result.files.values())}


def workspace(result: Result) -> dict[str, Any]:
    return next(o for k, o in objects(result).items() if k.startswith("Deployment/"))["spec"]["template"]["spec"]


def env_of(result: Result) -> dict[str, Any]:
    return {e["name"]: e for e in workspace(result)["containers"][0]["env"]}


def with_settings(**changes: Any) -> dict[str, Any]:
    return harness.with_settings(SETTINGS, **changes)


@dataclass
class Case:
    reason: str
    spec: dict[str, Any]
    want: Callable[[Result], Any]
    expected: Any
    platform: dict[str, Any] | None = field(default=None)


CASES = [
    Case("the language picks the toolchain image", {"language": "go"}, lambda r: workspace(r)["containers"][0]["image"], SETTINGS["devEnvironment"]["toolchainImages"]["go"]),
    Case("an image override replaces the toolchain image", {"language": "go", "image": "ghcr.io/acme/go-dev:1.2.3"}, lambda r: workspace(r)["containers"][0]["image"], "ghcr.io/acme/go-dev:1.2.3"),
    Case("code-server is pinned and copied in by an init container", {"language": "node"}, lambda r: workspace(r)["initContainers"][0]["image"], "codercom/code-server:4.133.0"),
    Case("the size preset sets the workspace resources", {"language": "python", "size": "large"}, lambda r: workspace(r)["containers"][0]["resources"], SIZES["large"].resources()),
    Case("the size preset sets the home volume", {"language": "python", "size": "medium"}, lambda r: objects(r)["PersistentVolumeClaim/demo-home"]["spec"]["resources"]["requests"]["storage"], "10Gi"),
    Case("storage overrides the preset's home volume", {"language": "python", "storage": "42Gi"}, lambda r: objects(r)["PersistentVolumeClaim/demo-home"]["spec"]["resources"]["requests"]["storage"], "42Gi"),
    Case("no database without db", {"language": "python"}, lambda r: [k for k in objects(r) if k.startswith("Cluster/")], []),
    Case("db renders a CNPG cluster sized by the preset", {"language": "python", "db": True, "size": "medium"}, lambda r: objects(r)["Cluster/demo-db"]["spec"]["storage"]["size"], "5Gi"),
    Case(
        "database env vars are secretKeyRefs into the CNPG Secret",
        {"language": "python", "db": True},
        lambda r: {k: v["valueFrom"]["secretKeyRef"] for k, v in env_of(r).items() if k.startswith("DB_") or k == "DATABASE_URL"},
        {
            "DB_HOST": {"name": "demo-db-app", "key": "host"},
            "DB_PORT": {"name": "demo-db-app", "key": "port"},
            "DB_NAME": {"name": "demo-db-app", "key": "dbname"},
            "DB_USER": {"name": "demo-db-app", "key": "username"},
            "DB_PASSWORD": {"name": "demo-db-app", "key": "password"},
            "DATABASE_URL": {"name": "demo-db-app", "key": "uri"},
        },
    ),
    Case("the password comes from the generated Secret", {"language": "java"}, lambda r: env_of(r)["PASSWORD"], {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "demo-code-server", "key": "password"}}}),
    Case("the ingress host is <name>.dev.<domain> in the default environment", {"language": "rust"}, lambda r: objects(r)["Ingress/demo"]["spec"]["rules"][0]["host"], "demo.dev.lab.local"),
    Case("the environment names the host: two environments' Ingresses meet in the host's controller", {"language": "rust", "environment": "staging"}, lambda r: objects(r)["Ingress/demo"]["spec"]["rules"][0]["host"], "demo.staging.lab.local"),
    Case("db: true runs the platform's PostgreSQL major, the image a PostgreSQL request of it gets", {"language": "go", "db": True}, lambda r: objects(r)["Cluster/demo-db"]["spec"]["imageName"], SETTINGS["postgresql"]["images"][str(SETTINGS["devEnvironment"]["postgresVersion"])]),
    Case("the domain is a platform setting", {"language": "rust"}, lambda r: r.status["url"], "http://demo.dev.home.example", with_settings(domain="home.example")),
    Case("a cluster issuer turns on TLS and https", {"language": "rust"}, lambda r: (objects(r)["Ingress/demo"]["spec"]["tls"], r.status["url"]), ([{"hosts": ["demo.dev.lab.local"], "secretName": "demo-tls"}], "https://demo.dev.lab.local"), with_settings(ingress__clusterIssuer="letsencrypt")),
    Case("the storage class is a platform setting", {"language": "go", "db": True}, lambda r: (objects(r)["PersistentVolumeClaim/demo-home"]["spec"]["storageClassName"], objects(r)["Cluster/demo-db"]["spec"]["storage"]["storageClass"]), ("fast-ssd", "fast-ssd"), with_settings(storage__className="fast-ssd")),
    Case("no storage class means the Destination's default", {"language": "go"}, lambda r: "storageClassName" in objects(r)["PersistentVolumeClaim/demo-home"]["spec"], False),
    Case("WebSocket traffic gets hour-long proxy timeouts", {"language": "go"}, lambda r: objects(r)["Ingress/demo"]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"], "3600"),
    Case("internet egress excludes private ranges", {"language": "go"}, lambda r: objects(r)["NetworkPolicy/demo"]["spec"]["egress"][-1]["to"][0]["ipBlock"]["except"][0], "10.0.0.0/8"),
    Case("egress none keeps only DNS", {"language": "go", "network": {"egress": "none"}}, lambda r: len(objects(r)["NetworkPolicy/demo"]["spec"]["egress"]), 1),
    Case("egress none with a database keeps DNS and the database", {"language": "go", "db": True, "network": {"egress": "none"}}, lambda r: objects(r)["NetworkPolicy/demo"]["spec"]["egress"][1]["to"], [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "demo-db"}}}]),
    Case("allowCIDRs adds ipBlocks", {"language": "go", "network": {"egress": "none", "allowCIDRs": ["192.168.1.0/24"]}}, lambda r: objects(r)["NetworkPolicy/demo"]["spec"]["egress"][-1], {"to": [{"ipBlock": {"cidr": "192.168.1.0/24"}}]}),
    Case("a git repository adds a clone init container, URL by env", {"language": "go", "git": {"repository": "https://github.com/a/b", "ref": "dev"}}, lambda r: {e["name"]: e["value"] for e in workspace(r)["initContainers"][1]["env"]}, {"HOME": "/home/coder", "GIT_REPOSITORY": "https://github.com/a/b", "GIT_REF": "dev"}),
    Case("extra env: values and secretKeyRefs pass through", {"language": "go", "env": [{"name": "A", "value": "1"}, {"name": "B_TOKEN", "secretKeyRef": {"name": "s", "key": "k"}}]}, lambda r: (env_of(r)["A"], env_of(r)["B_TOKEN"]), ({"name": "A", "value": "1"}, {"name": "B_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})),
    Case("the request lands in the default environment", {"language": "go"}, lambda r: [s.match_labels for s in r.selectors], [{"environment": "dev"}]),
    Case("environment picks the Destination", {"language": "go", "environment": "staging"}, lambda r: ([s.match_labels for s in r.selectors], r.status["environment"]), ([{"environment": "staging"}], "staging")),
    Case("the message is the URL, and the database Secret with db", {"language": "go", "db": True}, lambda r: r.status["message"], "Workspace at http://demo.dev.lab.local; database Secret demo-db-app"),
    Case("status says how to read the password", {"language": "go"}, lambda r: r.status["passwordCommand"], "kubectl get secret demo-code-server -n team-a -o jsonpath='{.data.password}' | base64 -d"),
    Case("every object carries the promise and request labels", {"language": "go", "db": True}, lambda r: {o["metadata"]["labels"]["platform.homelab.io/request-name"] for o in objects(r).values()}, {"demo"}),
    Case("the selector is the fixed subset", {"language": "go"}, lambda r: objects(r)["Deployment/demo"]["spec"]["selector"]["matchLabels"], {"app.kubernetes.io/name": "devenvironment", "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "workspace"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.reason for c in CASES])
def test_render(case: Case) -> None:
    got = case.want(render(case.spec, platform=case.platform))
    assert got == case.expected, f"{case.reason}\n-want {case.expected!r}\n+got  {got!r}"


def test_injection_cannot_change_structure() -> None:
    """A value full of YAML syntax stays one scalar: no new key, document or line."""
    hostile = 'x"\n---\nkind: Secret\nmetadata: {name: pwned}\n: {{ 1 }} \u2028 \x85'
    result = render({"language": "go", "env": [{"name": "EVIL", "value": hostile}]})
    assert env_of(result)["EVIL"] == {"name": "EVIL", "value": hostile}
    assert not any(k.startswith("Secret/") for k in objects(result))
    assert len(result.files) == len(render({"language": "go"}).files)


def test_delete_reports_what_flux_prunes() -> None:
    obj = {"apiVersion": "platform.homelab.io/v1", "kind": "DevEnvironment", "metadata": {"name": "demo"}, "spec": {"language": "go", "db": True}}
    result = PROMISE.delete(parse_request(PROMISE, obj, strict=False), SETTINGS)
    assert result.files == {}
    assert result.status["message"] == "Deleted: nothing outside the state store to undo; Flux prunes the workspace, PersistentVolumeClaim demo-home and database demo-db"


def test_delete_works_for_a_request_the_schema_now_rejects() -> None:
    obj = {"apiVersion": "platform.homelab.io/v1", "kind": "DevEnvironment", "metadata": {"name": "old"}, "spec": {"language": "cobol"}}
    assert PROMISE.delete(parse_request(PROMISE, obj, strict=False), SETTINGS).status["message"].startswith("Deleted")


def test_promise_dependencies_deliver_external_secrets() -> None:
    """CloudNativePG comes with the postgresql promise (a required promise); External Secrets with this one."""
    result = PROMISE.configure_promise(SETTINGS)  # type: ignore[misc]
    release = objects(result)["HelmRelease/external-secrets"]
    assert release["spec"]["chart"]["spec"]["version"] == SETTINGS["charts"]["externalSecrets"]["version"]
    assert set(objects(result)) == {"Namespace/external-secrets", "HelmRepository/external-secrets", "HelmRelease/external-secrets"}
    assert PROMISE.required_promises == (("postgresql", "v0.1.0"),)
