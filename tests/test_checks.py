"""promisekit.checks: each validator passes a good object and fails a bad one, for a stated reason."""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import kubernetes_validate
import pytest
import yaml

from promisekit import checks
from promisekit.checks import (
    ManifestInvalid,
    PrivilegedWorkload,
    check_pod_security,
    crd_for,
    find_secret_leaks,
    pod_security_violations,
    validate_manifest,
    validate_with_crd,
)
from promisekit.checks import _crds, _privileged
from promisekit.checks._cel import rule_failures

Obj = dict[str, Any]


def edit(obj: Obj, change: Callable[[Obj], Any]) -> Obj:
    """A changed deep copy, so every case starts from the same good object."""
    copied = copy.deepcopy(obj)
    change(copied)
    return copied


# --- good objects --------------------------------------------------------------------------------

RESTRICTED_CONTAINER: Obj = {
    "name": "app",
    "image": "ghcr.io/acme/app:1.0.0",
    "ports": [{"containerPort": 8080}],
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
POD_SPEC: Obj = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "initContainers": [dict(copy.deepcopy(RESTRICTED_CONTAINER), name="init", ports=[])],
    "containers": [copy.deepcopy(RESTRICTED_CONTAINER)],
    "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "web"}}],
}
DEPLOYMENT: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC},
    },
}
HELM_RELEASE: Obj = {
    "apiVersion": "helm.toolkit.fluxcd.io/v2",
    "kind": "HelmRelease",
    "metadata": {"name": "podinfo", "namespace": "flux-system"},
    "spec": {
        "interval": "10m",
        "chart": {"spec": {"chart": "podinfo", "version": "6.x", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
        "values": {"replicaCount": 2},
    },
}
CNPG_CLUSTER: Obj = {
    "apiVersion": "postgresql.cnpg.io/v1",
    "kind": "Cluster",
    "metadata": {"name": "db", "namespace": "team-a"},
    "spec": {
        "instances": 2,
        "storage": {"size": "1Gi"},
        "bootstrap": {"initdb": {"database": "app", "owner": "app", "secret": {"name": "db-app"}}},
        "postgresql": {"parameters": {"password_encryption": "scram-sha-256"}},
    },
}
EXTERNAL_SECRET: Obj = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ExternalSecret",
    "metadata": {"name": "db-app", "namespace": "team-a"},
    "spec": {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
        "target": {"name": "db-app", "template": {"data": {"password": "{{ .password }}", "uri": "postgres://app:{{ .password }}@db-rw:5432/app"}}},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db/app", "property": "password"}}],
    },
}
PASSWORD: Obj = {
    "apiVersion": "generators.external-secrets.io/v1alpha1",
    "kind": "Password",
    "metadata": {"name": "db-password", "namespace": "team-a"},
    "spec": {"length": 32, "symbols": 0},
}
PROMISE: Obj = {
    "apiVersion": "platform.kratix.io/v1alpha1",
    "kind": "Promise",
    "metadata": {"name": "postgresql", "labels": {"kratix.io/promise-version": "v0.1.0"}},
    "spec": {
        "api": {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "postgresqls.acme.io"}},
        "dependencies": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cnpg-system"}}],
        "destinationSelectors": [{"matchLabels": {"environment": "dev"}}],
        "workflows": {
            "resource": {
                "configure": [
                    {
                        "apiVersion": "platform.kratix.io/v1alpha1",
                        "kind": "Pipeline",
                        "metadata": {"name": "instance-configure"},
                        "spec": {"containers": [{"name": "render", "image": "ghcr.io/acme/pipeline:0.1.0"}]},
                    }
                ]
            }
        },
    },
}

GOOD_MANIFESTS: list[tuple[str, Obj]] = [
    ("Deployment", DEPLOYMENT),
    ("Service", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80, "targetPort": "http"}]}}),
    ("ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}, "data": {"LOG_LEVEL": "info"}}),
    ("Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
    ("ClusterRole with a colon name", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "acme:reader"}, "rules": []}),
    ("HelmRelease v2", HELM_RELEASE),
    ("HelmRepository v1", {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository", "metadata": {"name": "podinfo"}, "spec": {"url": "https://stefanprodan.github.io/podinfo", "interval": "1h"}}),
    ("OCIRepository v1", {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "app"}, "spec": {"url": "oci://ghcr.io/acme/app", "interval": "5m", "ref": {"tag": "1.0.0"}}}),
    ("GitRepository v1", {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "platform"}, "spec": {"url": "https://github.com/acme/platform", "interval": "1m", "ref": {"branch": "main"}}}),
    ("Bucket v1 (provider defaulted for its CEL rules)", {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket", "metadata": {"name": "state"}, "spec": {"bucketName": "kratix", "endpoint": "minio:9000", "interval": "1m"}}),
    ("Kustomization v1", {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "apps"}, "spec": {"interval": "10m", "prune": True, "path": "./apps", "sourceRef": {"kind": "GitRepository", "name": "platform"}}}),
    ("CNPG Cluster v1", CNPG_CLUSTER),
    ("CNPG Cluster: the oldSelf transition rule is skipped on create", edit(CNPG_CLUSTER, lambda o: o["spec"].update(serviceAccountName="db"))),
    ("CNPG ScheduledBackup v1", {"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup", "metadata": {"name": "nightly"}, "spec": {"schedule": "0 0 2 * * *", "cluster": {"name": "db"}}}),
    ("CNPG Database v1", {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Database", "metadata": {"name": "app"}, "spec": {"name": "app", "owner": "app", "cluster": {"name": "db"}}}),
    ("ExternalSecret v1", EXTERNAL_SECRET),
    ("Password v1alpha1 (required fields defaulted)", PASSWORD),
    ("Promise v1alpha1", PROMISE),
    ("Destination v1alpha1", {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Destination", "metadata": {"name": "worker-1", "labels": {"environment": "dev"}}, "spec": {"path": "worker-1", "stateStoreRef": {"kind": "GitStateStore", "name": "default"}}}),
    ("GitStateStore v1alpha1", {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "GitStateStore", "metadata": {"name": "default"}, "spec": {"url": "https://github.com/acme/state", "secretRef": {"name": "git", "namespace": "default"}}}),
    ("BucketStateStore v1alpha1", {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "BucketStateStore", "metadata": {"name": "minio"}, "spec": {"bucketName": "kratix", "endpoint": "minio:9000"}}),
]


@pytest.mark.parametrize("reason, obj", GOOD_MANIFESTS, ids=[reason for reason, _ in GOOD_MANIFESTS])
def test_valid_manifests_pass(reason: str, obj: Obj) -> None:
    validate_manifest(obj)


# --- validate_manifest: bad objects --------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    reason: str
    obj: Obj
    error: str  # a substring of the ManifestInvalid message


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """Set a dotted path ('spec.containers.0.x'), creating mappings on the way."""

    def change(obj: Obj) -> None:
        *parents, last = path.split(".")
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[int(last) if isinstance(node, list) else last] = value

    return change


BAD_MANIFESTS = [
    Bad("deployment-unknown-field", "strict validation rejects a field the Deployment schema lacks",
        edit(DEPLOYMENT, _set("spec.template.spec.containers.0.imagePolicy", "Always")),
        "Deployment/web: $.spec.template.spec.containers[0].imagePolicy: unknown field"),
    Bad("deployment-wrong-type", "replicas must be an integer",
        edit(DEPLOYMENT, _set("spec.replicas", "two")), "$.spec.replicas: 'two' is not of type 'integer'"),
    Bad("deployment-bad-label", "label values are at most 63 characters of label syntax",
        edit(DEPLOYMENT, _set("metadata.labels.team", "a b")), "'a b' is not a label value"),
    Bad("label-trailing-newline", "the API server's RE2 `$` does not match before a final newline, as Python's does",
        edit(DEPLOYMENT, _set("metadata.labels.team", "dev\n")), "'dev\\n' is not a label value"),
    Bad("namespace-trailing-newline", "nor in a namespace name",
        edit(DEPLOYMENT, _set("metadata.namespace", "team-a\n")), "$.metadata.namespace: 'team-a\\n' is not an RFC 1123 label"),
    Bad("name-not-subdomain", "kubernetes-validate does not check a built-in object's name: the API server does",
        edit(DEPLOYMENT, _set("metadata.name", "Web_1")), "$.metadata.name: 'Web_1' is not an RFC 1123 subdomain"),
    Bad("service-name-with-dot", "a Service's name becomes a DNS label",
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web.v2"}, "spec": {"ports": [{"port": 80}]}}, "$.metadata.name: 'web.v2' is not an RFC 1123 label"),
    Bad("deployment-removed-version", "apps/v1beta1 was removed long before 1.33",
        edit(DEPLOYMENT, _set("apiVersion", "apps/v1beta1")), "no schema for apps/v1beta1/Deployment"),
    Bad("cnpg-unknown-field", "CNPG Cluster rejects a misspelt spec field",
        edit(CNPG_CLUSTER, _set("spec.instance", 3)), "Cluster/db: $.spec.instance: unknown field"),
    Bad("cnpg-pruned-nested-metadata", "an object schema without properties prunes all its fields",
        edit(CNPG_CLUSTER, _set("spec.ephemeralVolumeSource.volumeClaimTemplate", {"metadata": {"labels": {"a": "b"}}, "spec": {}})),
        "$.spec.ephemeralVolumeSource.volumeClaimTemplate.metadata.labels: unknown field"),
    Bad("cnpg-duplicate-map-key", "a list of type map rejects two entries with the same key",
        edit(CNPG_CLUSTER, _set("spec.resources", {"claims": [{"name": "gpu"}, {"name": "gpu"}]})),
        "$.spec.resources.claims[1]: duplicate entry"),
    Bad("cnpg-cel-exclusive", "CEL: imageName and imageCatalogRef are mutually exclusive",
        edit(CNPG_CLUSTER, lambda o: o["spec"].update(imageName="ghcr.io/cloudnative-pg/postgresql:17",
                                                      imageCatalogRef={"apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog", "name": "pg", "major": 17})),
        "$.spec: imageName and imageCatalogRef are mutually exclusive"),
    Bad("cnpg-cel-number", "CEL on a scalar: synchronous replicas must be > 0",
        edit(CNPG_CLUSTER, _set("spec.postgresql.synchronous", {"method": "any", "number": 0})),
        "$.spec.postgresql.synchronous.number: The number of synchronous replicas should be greater than zero"),
    Bad("cnpg-cel-missing-key", "CEL that reads an absent field errors, which the API server also rejects",
        edit(CNPG_CLUSTER, _set("spec.bootstrap.initdb.builtinLocale", "C")),
        "builtinLocale is only available when localeProvider is set to `builtin` (CEL rule"),
    Bad("helmrelease-wrong-type", "interval is a duration string, not a number",
        edit(HELM_RELEASE, _set("spec.interval", 10)), "HelmRelease/podinfo: $.spec.interval: 10 is not of type 'string'"),
    Bad("helmrelease-cel", "CEL: exactly one of chart and chartRef",
        edit(HELM_RELEASE, _set("spec.chartRef", {"kind": "OCIRepository", "name": "podinfo"})),
        "$.spec: either chart or chartRef must be set"),
    Bad("helmrelease-old-version", "v2beta1 is not in the vendored CRD at all",
        edit(HELM_RELEASE, _set("apiVersion", "helm.toolkit.fluxcd.io/v2beta1")),
        "no schema for helm.toolkit.fluxcd.io/v2beta1/HelmRelease"),
    Bad("eso-unserved-v1beta1", "ExternalSecret v1beta1 has a schema but is served: false",
        edit(EXTERNAL_SECRET, _set("apiVersion", "external-secrets.io/v1beta1")),
        "external-secrets.io/v1beta1 is not served by CRD externalsecrets.external-secrets.io (served: v1)"),
    Bad("unknown-kind", "a kind nobody vendored has no schema",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, "Widget/w: $: no schema for example.com/v1/Widget"),
    Bad("unknown-builtin-kind", "a made-up kind in a built-in group has no schema",
        {"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}, "no schema for v1/Widget"),
    Bad("cr-bad-name", "custom resource names are DNS-1123 subdomains",
        edit(HELM_RELEASE, _set("metadata.name", "PodInfo")), "$.metadata.name: 'PodInfo' is not an RFC 1123 subdomain"),
    Bad("cr-no-name", "metadata.name is required",
        edit(HELM_RELEASE, lambda o: o["metadata"].pop("name")), "$.metadata: 'name' is a required property"),
    Bad("cr-unknown-metadata", "ObjectMeta has no such field",
        edit(HELM_RELEASE, _set("metadata.label", {"a": "b"})), "$.metadata.label: unknown field"),
    Bad("cr-bad-namespace", "namespaces are DNS labels",
        edit(HELM_RELEASE, _set("metadata.namespace", "flux.system")), "$.metadata.namespace: 'flux.system' is not an RFC 1123 label"),
    Bad("promise-embedded-kind", "an embedded resource (the Promise's spec.api) needs a kind",
        edit(PROMISE, lambda o: o["spec"]["api"].pop("kind")), "$.spec.api: 'kind' is a required property"),
    Bad("password-wrong-type", "Password length is an integer",
        edit(PASSWORD, _set("spec.length", "32")), "$.spec.length: '32' is not of type 'integer'"),
    Bad("not-a-mapping-kind", "kind must be a non-empty string", {"apiVersion": "v1", "metadata": {"name": "x"}}, "$.kind: required"),
]


@pytest.mark.parametrize("case", BAD_MANIFESTS, ids=lambda case: case.id)
def test_invalid_manifests_fail(case: Bad) -> None:
    with pytest.raises(ManifestInvalid) as raised:
        validate_manifest(case.obj)
    message = str(raised.value)
    assert case.error in message, case.reason
    assert "\n" not in message


def test_builtin_kinds_agree_with_kubernetes_validate() -> None:
    """The cached built-in validator must judge like kubernetes_validate.validate(…, '1.33.0', strict=True)."""
    bad = edit(DEPLOYMENT, _set("spec.template.spec.containers.0.imagePolicy", "Always"))
    kubernetes_validate.validate(DEPLOYMENT, "1.33.0", strict=True)
    validate_manifest(DEPLOYMENT)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33.0", strict=True)
    with pytest.raises(ManifestInvalid):
        validate_manifest(bad)


def test_validation_does_not_mutate_the_object() -> None:
    before = copy.deepcopy(PASSWORD)
    validate_manifest(PASSWORD)
    assert PASSWORD == before


# --- validate_with_crd / crd_for -----------------------------------------------------------------

PROMISE_API: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "postgresqls.acme.io"},
    "spec": {
        "group": "acme.io",
        "names": {"kind": "PostgreSQL", "plural": "postgresqls", "singular": "postgresql"},
        "scope": "Namespaced",
        "versions": [
            {"name": "v1alpha1", "served": False, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [{"rule": "self.replicas <= 5", "message": "at most 5 replicas"}],
                                "properties": {
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "replicas": {"type": "integer", "default": 1},
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            }
                        },
                    }
                },
            },
        ],
    },
}
REQUEST: Obj = {"apiVersion": "acme.io/v1", "kind": "PostgreSQL", "metadata": {"name": "db", "namespace": "team-a"},
                "spec": {"size": "small", "port": "postgres", "extra": {"anything": {"goes": True}}}}


def test_resource_request_matches_its_promise_api() -> None:
    validate_with_crd(REQUEST, PROMISE_API)
    validate_with_crd(edit(REQUEST, _set("spec.port", 5432)), PROMISE_API)


@pytest.mark.parametrize(
    "reason, request_obj, error",
    [
        ("unknown field", edit(REQUEST, _set("spec.sise", "small")), "$.spec.sise: unknown field"),
        ("enum", edit(REQUEST, _set("spec.size", "huge")), "$.spec.size: 'huge' is not one of"),
        ("CEL rule of the Promise's own API", edit(REQUEST, _set("spec.replicas", 9)), "$.spec: at most 5 replicas"),
        ("int-or-string takes no other type", edit(REQUEST, _set("spec.port", True)), "$.spec.port: True is not of type"),
        ("unserved version", edit(REQUEST, _set("apiVersion", "acme.io/v1alpha1")), "acme.io/v1alpha1 is not served"),
        ("other kind", edit(REQUEST, _set("kind", "Redis")), "the CRD defines acme.io/PostgreSQL, not acme.io/Redis"),
    ],
    ids=["unknown-field", "enum", "cel", "int-or-string", "unserved", "wrong-kind"],
)
def test_resource_request_breaking_its_api_fails(reason: str, request_obj: Obj, error: str) -> None:
    with pytest.raises(ManifestInvalid) as raised:
        validate_with_crd(request_obj, PROMISE_API)
    assert error in str(raised.value), reason


@pytest.mark.parametrize(
    "rule, error",
    [
        ("self.size ==", "cel-python cannot compile CEL rule 'self.size =='"),
        ("self.size.split('-').size() == 1", "could not be evaluated: undeclared reference to 'split'"),
    ],
    ids=["uncompilable", "unsupported-function"],
)
def test_cel_rules_cel_python_cannot_run_fail_loudly(rule: str, error: str) -> None:
    api = edit(PROMISE_API, lambda c: c["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"].update(
        {"x-kubernetes-validations": [{"rule": rule, "message": "m"}]}))
    with pytest.raises(ManifestInvalid) as raised:
        validate_with_crd(REQUEST, api)
    assert error in str(raised.value)


@pytest.mark.parametrize(
    "value, admitted",
    [
        ([{"name": "a"}], True),
        (0, False),
        (2**63, False),
    ],
    ids=["list", "int-for-a-list", "beyond-int64"],
)
def test_cel_rules_on_mistyped_values_reject_instead_of_crashing(value: Any, admitted: bool) -> None:
    """A rule over a field of the wrong type errors, as on the API server; cel-python's own errors become that rejection."""
    rules = [{"rule": "self.items.exists(i, i.name == 'a')", "message": "needs item a"}]
    assert (list(rule_failures(rules, {"items": value})) == []) == admitted


def test_crd_for_finds_vendored_versions() -> None:
    helm_release = crd_for("helm.toolkit.fluxcd.io/v2", "HelmRelease")
    assert helm_release is not None and helm_release["spec"]["group"] == "helm.toolkit.fluxcd.io"
    assert crd_for("external-secrets.io/v1beta1", "ExternalSecret") is not None  # defined, though not served
    assert crd_for("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease") is None
    assert crd_for("example.com/v1", "Widget") is None


# --- Pod Security Standards ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pss:
    id: str
    reason: str
    change: Callable[[Obj], Any]
    expected: str  # a substring of one violation
    labels: dict[str, str] | None = None


def _pod(change: Callable[[Obj], Any]) -> Callable[[Obj], Any]:
    """Apply `change` to the Deployment's pod spec."""
    return lambda deployment: change(deployment["spec"]["template"]["spec"])


def _app(**fields: Any) -> Callable[[Obj], Any]:
    """Merge fields into the app container's securityContext."""
    return _pod(lambda spec: spec["containers"][0]["securityContext"].update(fields))


BASELINE = {"pod-security.kubernetes.io/enforce": "baseline"}
APP = "Deployment/web: spec.template.spec.containers[app].securityContext"
PSS_CASES = [
    Pss("hostProcess", "Windows HostProcess containers are privileged on the host",
        _pod(lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True})),
        "spec.template.spec.securityContext.windowsOptions.hostProcess: must be false or unset (baseline: HostProcess)"),
    Pss("hostNetwork", "sharing the host network namespace", _pod(lambda s: s.update(hostNetwork=True)), "spec.template.spec.hostNetwork"),
    Pss("hostPID", "sharing the host PID namespace", _pod(lambda s: s.update(hostPID=True)), "spec.template.spec.hostPID"),
    Pss("hostIPC", "sharing the host IPC namespace", _pod(lambda s: s.update(hostIPC=True)), "spec.template.spec.hostIPC"),
    Pss("privileged", "privileged containers", _app(privileged=True), f"{APP}.privileged: must be false or unset"),
    Pss("capabilities-baseline", "baseline allows only the default capability set", _app(capabilities={"add": ["SYS_ADMIN"]}),
        "SYS_ADMIN is beyond the default set (baseline: capabilities)", BASELINE),
    Pss("capabilities-add", "restricted allows adding only NET_BIND_SERVICE", _app(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
        f"{APP}.capabilities.add: CHOWN may not be added, only NET_BIND_SERVICE"),
    Pss("capabilities-drop", "restricted requires dropping ALL", _app(capabilities={"drop": ["NET_RAW"]}), f"{APP}.capabilities.drop: must include ALL"),
    Pss("hostPath-baseline", "baseline forbids hostPath volumes",
        _pod(lambda s: s["volumes"].append({"name": "host", "hostPath": {"path": "/"}})),
        "spec.template.spec.volumes[host].hostPath: is forbidden (baseline: hostPath volumes)", BASELINE),
    Pss("hostPath-restricted", "restricted reports hostPath as a forbidden volume type",
        _pod(lambda s: s["volumes"].append({"name": "host", "hostPath": {"path": "/"}})),
        "spec.template.spec.volumes[host].hostPath: hostPath volumes are not allowed (restricted: volume types)"),
    Pss("hostPort", "host ports", _pod(lambda s: s["containers"][0]["ports"][0].update(hostPort=8080)),
        "containers[app].ports[8080].hostPort: must be 0 or unset (baseline: host ports)"),
    Pss("apparmor-field", "AppArmor Unconfined", _app(appArmorProfile={"type": "Unconfined"}), f"{APP}.appArmorProfile.type: Unconfined"),
    Pss("apparmor-annotation", "AppArmor annotation other than runtime/default or localhost/*",
        lambda d: d["spec"]["template"]["metadata"].update(annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
        "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: unconfined"),
    Pss("selinux-type", "SELinux types other than the container ones", _app(seLinuxOptions={"type": "spc_t"}), f"{APP}.seLinuxOptions.type: spc_t"),
    Pss("selinux-user", "SELinux user may not be set", _app(seLinuxOptions={"user": "system_u"}), f"{APP}.seLinuxOptions.user: must be unset"),
    Pss("procMount", "/proc must keep its default masks", _app(procMount="Unmasked"), f"{APP}.procMount: must be Default or unset"),
    Pss("seccomp-baseline", "baseline forbids Unconfined seccomp",
        _pod(lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"})),
        "spec.template.spec.securityContext.seccompProfile.type: must not be Unconfined (baseline: seccomp)", BASELINE),
    Pss("seccomp-unconfined", "restricted: Unconfined is not RuntimeDefault or Localhost", _app(seccompProfile={"type": "Unconfined"}),
        f"{APP}.seccompProfile.type: Unconfined is not RuntimeDefault or Localhost"),
    Pss("seccomp-missing", "restricted requires a seccomp profile at pod or container level",
        _pod(lambda s: [s["securityContext"].pop("seccompProfile"), s["containers"][0]["securityContext"].pop("seccompProfile")]),
        f"{APP}.seccompProfile.type: must be RuntimeDefault or Localhost here or in the pod securityContext"),
    Pss("sysctls", "only safe sysctls",
        _pod(lambda s: s["securityContext"].update(sysctls=[{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}, {"name": "kernel.msgmax", "value": "1"}])),
        "spec.template.spec.securityContext.sysctls[kernel.msgmax]: is not a safe sysctl"),
    Pss("volume-type", "restricted allows only core volume types", _pod(lambda s: s["volumes"].append({"name": "nfs", "nfs": {"server": "nas", "path": "/"}})),
        "spec.template.spec.volumes[nfs].nfs: nfs volumes are not allowed (restricted: volume types)"),
    Pss("allowPrivilegeEscalation-unset", "allowPrivilegeEscalation must be set to false",
        _pod(lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation")), f"{APP}.allowPrivilegeEscalation: must be false"),
    Pss("runAsNonRoot-false", "a container may not opt out of runAsNonRoot", _app(runAsNonRoot=False), f"{APP}.runAsNonRoot: must be true or unset"),
    Pss("runAsNonRoot-missing", "runAsNonRoot true at pod level or in every container",
        _pod(lambda s: [s["securityContext"].pop("runAsNonRoot"), s["containers"][0]["securityContext"].pop("runAsNonRoot")]),
        f"{APP}.runAsNonRoot: must be true here or in the pod securityContext"),
    Pss("runAsUser-0", "UID 0 is root", _app(runAsUser=0), f"{APP}.runAsUser: must not be 0"),
    Pss("initContainers", "init containers are checked too", _pod(lambda s: s["initContainers"][0]["securityContext"].update(privileged=True)),
        "spec.template.spec.initContainers[init].securityContext.privileged"),
    Pss("ephemeralContainers", "ephemeral containers are checked too",
        _pod(lambda s: s.update(ephemeralContainers=[{"name": "debug", "image": "busybox"}])),
        "spec.template.spec.ephemeralContainers[debug].securityContext.allowPrivilegeEscalation: must be false"),
]


@pytest.mark.parametrize("case", PSS_CASES, ids=lambda case: case.id)
def test_each_pod_security_control_fails(case: Pss) -> None:
    violations = check_pod_security(edit(DEPLOYMENT, case.change), case.labels)
    assert any(case.expected in violation for violation in violations), (case.reason, violations)


@pytest.mark.parametrize(
    "reason, obj, labels",
    [
        ("a restricted Deployment", DEPLOYMENT, None),
        ("privileged namespaces enforce nothing", edit(DEPLOYMENT, _app(privileged=True)), {"pod-security.kubernetes.io/enforce": "privileged"}),
        ("baseline ignores restricted-only controls", edit(DEPLOYMENT, _app(allowPrivilegeEscalation=True, runAsNonRoot=False)), BASELINE),
        ("Windows pods skip the Linux-only controls",
         edit(DEPLOYMENT, _pod(lambda s: [s.update(os={"name": "windows"}), s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation")])), None),
        ("objects without a pod template", HELM_RELEASE, None),
    ],
    ids=["restricted", "privileged-level", "baseline-level", "windows", "no-pod"],
)
def test_compliant_pods_pass(reason: str, obj: Obj, labels: dict[str, str] | None) -> None:
    assert check_pod_security(obj, labels) == [], reason


@pytest.mark.parametrize(
    "reason, obj, expected",
    [
        ("bare Pod", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": edit(POD_SPEC, lambda s: s.update(hostPID=True))},
         "Pod/p: spec.hostPID"),
        ("CronJob job template",
         {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
          "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": edit(POD_SPEC, lambda s: s.update(hostIPC=True))}}}}},
         "CronJob/c: spec.jobTemplate.spec.template.spec.hostIPC"),
        ("StatefulSet template", edit(DEPLOYMENT, lambda d: d.update(kind="StatefulSet") or _app(privileged=True)(d)),
         "StatefulSet/web: spec.template.spec.containers[app].securityContext.privileged"),
    ],
    ids=["pod", "cronjob", "statefulset"],
)
def test_every_pod_template_is_found(reason: str, obj: Obj, expected: str) -> None:
    assert any(expected in violation for violation in check_pod_security(obj)), reason


PRIVILEGED_DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "chaos-daemon", "namespace": "chaos-mesh"},
    "spec": {"selector": {"matchLabels": {"app": "c"}}, "template": {"spec": edit(POD_SPEC, lambda s: s.update(hostPID=True))}},
}


def _namespace(level: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "chaos-mesh", "labels": {"pod-security.kubernetes.io/enforce": level}}}


@pytest.mark.parametrize(
    "reason, registered, objects, expected",
    [
        ("listed, Namespace labelled privileged alongside", True, [_namespace("privileged"), PRIVILEGED_DAEMONSET], None),
        ("listed, but its Namespace is not rendered", True, [PRIVILEGED_DAEMONSET], "listed as privileged (needs the host PID namespace)"),
        ("listed, but its Namespace only enforces baseline", True, [_namespace("baseline"), PRIVILEGED_DAEMONSET], "spec.template.spec.hostPID"),
        ("not listed: a privileged Namespace does not excuse it", False, [_namespace("privileged"), PRIVILEGED_DAEMONSET], "spec.template.spec.hostPID"),
        ("compliant workloads need no entry", False, [DEPLOYMENT], None),
    ],
    ids=["allowed", "no-namespace", "baseline-namespace", "not-listed", "compliant"],
)
def test_privileged_workloads_need_their_labelled_namespace(
    monkeypatch: pytest.MonkeyPatch, reason: str, registered: bool, objects: list[Obj], expected: str | None
) -> None:
    entry = PrivilegedWorkload(namespace="chaos-mesh", kind="DaemonSet", name="chaos-daemon", reason="needs the host PID namespace")
    monkeypatch.setattr(_privileged, "PRIVILEGED_WORKLOADS", (entry,) if registered else ())
    violations = pod_security_violations(objects)
    if expected is None:
        assert violations == [], reason
    else:
        assert any(expected in violation for violation in violations), (reason, violations)


# --- secret leaks --------------------------------------------------------------------------------


def _configmap(data: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data}


def _env(*env: Obj) -> Obj:
    return edit(DEPLOYMENT, _pod(lambda s: s["containers"][0].update(env=list(env))))


@dataclass(frozen=True)
class Leak:
    id: str
    reason: str
    objects: list[Obj]
    expected: str | None  # substring of a leak, or None for "no leak"
    texts: list[str] = field(default_factory=list)


PEM_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK...\n-----END RSA PRIVATE KEY-----\n"
PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAV2gAwIBAgIU...\n-----END CERTIFICATE-----\n"
LEAK_CASES = [
    Leak("secret-data", "a Secret with data would be committed to git",
         [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}}], "Secret/s: $.data: a Secret with literal contents"),
    Leak("secret-stringData", "stringData is just as literal",
         [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"token": "abc"}}], "Secret/s: $.stringData"),
    Leak("secret-empty", "a Secret without contents (filled in by a controller) is fine",
         [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token", "data": {}}], None),
    Leak("env-password", "a literal DB_PASSWORD env var", [_env({"name": "DB_PASSWORD", "value": "hunter2"})],
         "Deployment/web: $.spec.template.spec.containers[0].env[0].value: env var DB_PASSWORD has a literal value"),
    Leak("env-pgpassword", "the secret word may end a longer part", [_env({"name": "PGPASSWORD", "value": "hunter2"})], "env var PGPASSWORD"),
    Leak("env-api-key", "API_KEY is secret although KEY alone is not", [_env({"name": "STRIPE_API_KEY", "value": "sk_live_x"})], "env var STRIPE_API_KEY"),
    Leak("env-aws-secret", "a secret word anywhere in an env name", [_env({"name": "AWS_SECRET_ACCESS_KEY", "value": "x"})], "env var AWS_SECRET_ACCESS_KEY"),
    Leak("env-secretKeyRef", "valueFrom.secretKeyRef is how a secret should arrive",
         [_env({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-app", "key": "password"}}})], None),
    Leak("env-expansion", "$(VAR) expands another (secret-backed) env var", [_env({"name": "PGPASSWORD", "value": "$(DB_PASSWORD)"})], None),
    Leak("env-pointer", "PASSWORD_FILE names a file, not a password", [_env({"name": "PASSWORD_FILE", "value": "/run/secrets/pw"})], None),
    Leak("env-plain", "ordinary settings are not secrets", [_env({"name": "LOG_LEVEL", "value": "debug"}, {"name": "TOKENIZERS_PARALLELISM", "value": "false"})], None),
    Leak("uri-password", "a URI with user:password@", [_configmap({"DATABASE_URL": "postgres://app:hunter2@db:5432/app"})],
         "ConfigMap/cfg: $.data.DATABASE_URL: URI carries a literal password"),
    Leak("uri-no-password", "user@host alone carries no credential", [_configmap({"DATABASE_URL": "postgres://app@db:5432/app", "GIT": "ssh://git@github.com/acme/x"})], None),
    Leak("uri-reference", "a password taken from an env var is a reference", [_configmap({"DATABASE_URL": "postgres://app:$(DB_PASSWORD)@db/app"})], None),
    Leak("pem-key", "a PEM private key", [_configmap({"tls.key": PEM_KEY})], "ConfigMap/cfg: $.data[\"tls.key\"]: PEM private key block"),
    Leak("pem-cert", "a certificate is public", [_configmap({"ca.crt": PEM_CERT})], None),
    Leak("key-password", "a password key with a literal value", [_configmap({"adminPassword": "admin"})], "$.data.adminPassword: key 'adminPassword' holds a literal value"),
    Leak("key-api-key", "an apiKey key", [_configmap({"apiKey": "abc123"})], "key 'apiKey'"),
    Leak("key-client-secret", "a clientSecret key", [_configmap({"clientSecret": "abc123"})], "key 'clientSecret'"),
    Leak("key-references", "names of Secrets, keys in Secrets and refs are references",
         [_configmap({"existingSecret": "grafana-admin", "secretName": "db-app", "passwordKey": "password", "tlsSecret": "web-tls", "adminPassword": ""})], None),
    Leak("key-not-secret", "only the last name part counts: password_encryption is a setting", [CNPG_CLUSTER], None),
    Leak("external-secret", "an ExternalSecret with templates and remoteRefs holds no secret", [EXTERNAL_SECRET], None),
    Leak("password-generator", "a Password generator spec holds no secret", [PASSWORD], None),
    Leak("text-uri", "raw texts are scanned for URIs", [], "text[0]: line 2: URI carries a literal password", ["# notes\nurl: https://bob:s3cret@example.com/x\n"]),
    Leak("text-pem", "raw texts are scanned for PEM keys", [], "text[0]: line 1: PEM private key block", [PEM_KEY]),
    Leak("text-clean", "a clean text", [], None, ["url: https://example.com/x\n" + PEM_CERT]),
]


@pytest.mark.parametrize("case", LEAK_CASES, ids=lambda case: case.id)
def test_secret_leaks(case: Leak) -> None:
    leaks = find_secret_leaks(case.objects, case.texts)
    if case.expected is None:
        assert leaks == [], case.reason
    else:
        assert any(case.expected in leak for leak in leaks), (case.reason, leaks)


# --- the vendored schemas themselves -------------------------------------------------------------


def test_vendored_files_match_their_readme_sha256() -> None:
    """Every vendored file is listed with its sha256 and is byte-identical to that digest."""
    folders = [path for path in _crds.UPSTREAM_DIR.iterdir() if path.is_dir()]
    assert folders
    for folder in folders:
        listed = dict(re.findall(r"\|\s*`([^`]+)`\s*\|.*\|\s*`([0-9a-f]{64})`\s*\|", (folder / "README.md").read_text(encoding="utf-8")))
        files = {path.name for path in folder.iterdir() if path.name != "README.md"}
        assert set(listed) == files, folder.name
        for name, digest in listed.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{folder.name}/{name}"


def test_schemas_live_inside_the_repository() -> None:
    repo_root = _crds.UPSTREAM_DIR.parents[1]
    assert (repo_root / "pyproject.toml").is_file()
    assert {key[1] for key in _crds.crd_index()} >= {"HelmRelease", "Cluster", "ExternalSecret", "Password", "Promise", "Destination"}


# --- HelmRelease values against the vendored chart ------------------------------------------------


def _release(chart: str, values: Obj, values_from: list[Obj] | None = None) -> Obj:
    spec: Obj = {"chart": {"spec": {"chart": chart, "version": "1.0.0", "sourceRef": {"kind": "HelmRepository", "name": chart}}}, "values": values}
    if values_from is not None:
        spec["valuesFrom"] = values_from
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": chart, "namespace": "flux-system"}, "spec": spec}


def _values_configmap(name: str, values: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "flux-system"}, "data": {"values.yaml": yaml.safe_dump(values)}}


@pytest.mark.parametrize(
    "reason, objects, expected",
    [
        ("vCluster: values its schema admits", [_release("vcluster", {"telemetry": {"enabled": False}})], None),
        ("vCluster: the schema refuses an unknown key", [_release("vcluster", {"syncer": {"enabled": True}})], "HelmRelease/vcluster: values: Additional properties are not allowed ('syncer' was unexpected)"),
        ("vCluster: the schema refuses a wrong type", [_release("vcluster", {"telemetry": {"enabled": "no"}})], "values.telemetry.enabled: 'no' is not of type 'boolean'"),
        ("Chaos Mesh: a misspelt key Helm would ignore", [_release("chaos-mesh", {"controllerManager": {"enableFilterNamespaces": True}})], "values.controllerManager.enableFilterNamespaces: the chart has no such value"),
        ("Chaos Mesh: free-form below an empty default", [_release("chaos-mesh", {"controllerManager": {"podAnnotations": {"any/key": "x"}}})], None),
        ("Chaos Mesh: a valuesFrom ConfigMap is merged in and checked",
         [_release("chaos-mesh", {}, [{"kind": "ConfigMap", "name": "runtime"}]), _values_configmap("runtime", {"chaosDaemon": {"runtim": "crio"}})],
         "HelmRelease/chaos-mesh with ConfigMap runtime: values.chaosDaemon.runtim: the chart has no such value"),
        ("a chart with nothing vendored is not checked", [_release("cloudnative-pg", {"anything": 1})], None),
    ],
    ids=["vcluster-ok", "vcluster-unknown", "vcluster-type", "chaos-misspelt", "chaos-free-form", "chaos-values-from", "unvendored"],
)
def test_chart_values_against_the_vendored_chart(reason: str, objects: list[Obj], expected: str | None) -> None:
    problems = checks.chart_values_violations(objects)
    if expected is None:
        assert problems == [], reason
    else:
        assert any(expected in problem for problem in problems), (reason, problems)
