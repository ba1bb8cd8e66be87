"""The VCluster promise: what it renders on the host, and the platform growing through it.

The conformance suite already validates every object; these tests hold the pieces to each
other (the Destination, the Kustomizations that feed it, the kubeconfig they share) and run
the whole dynamic-Destination flow through the runner with the real promises.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.vcluster import PROMISE
from pipelines.vcluster.render import host_name
from promisekit import checks, settings as platform_settings
from promisekit.contract import Result
from promisekit.errors import RequestInvalid
from promisekit.promise import parse_request
from promisekit.runner import Runner, read_documents
from promisekit.runner._engine import REPO_ROOT

SETTINGS = platform_settings.load_file()
PROMISES = [REPO_ROOT / "promises" / name / "promise.yaml" for name in ("postgresql", "devenvironment", "vcluster")]
DESTINATIONS = REPO_ROOT / "examples" / "platform" / "destinations.yaml"
STAGING = REPO_ROOT / "examples" / "platform" / "vcluster-staging.yaml"
WEB_STAGING = REPO_ROOT / "examples" / "devenvironment" / "web-staging.yaml"


def render(spec: dict[str, Any], *, name: str = "staging", namespace: str = "default", status: dict[str, Any] | None = None, platform: dict[str, Any] | None = None) -> Result:
    obj: dict[str, Any] = {"apiVersion": "platform.homelab.io/v1", "kind": "VCluster", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return PROMISE.configure(parse_request(PROMISE, obj), platform or SETTINGS)


def objects(result: Result) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in (yaml.safe_load(t) for t in result.files.values())}


def test_the_destination_is_labelled_for_its_environment_and_points_at_its_own_path() -> None:
    result = render({"environment": "staging"})
    destination = objects(result)["Destination/vcluster-default-staging"]
    assert destination["metadata"]["labels"]["environment"] == "staging"
    assert destination["metadata"]["labels"]["type"] == "vcluster"
    assert destination["spec"]["path"] == "vcluster-default-staging"
    assert destination["spec"]["stateStoreRef"] == {"kind": SETTINGS["stateStore"]["kind"], "name": SETTINGS["stateStore"]["name"]}
    assert result.status["destination"] == "vcluster-default-staging"
    assert [s.match_labels for s in result.selectors] == [{"environment": "platform"}], "everything lands on the host"


def test_the_kustomizations_feed_the_destination_path_through_one_in_cluster_kubeconfig() -> None:
    found = objects(render({"environment": "staging"}))
    values = found["HelmRelease/staging"]["spec"]["values"]
    server = "https://staging.vcluster-default-staging.svc:443"
    assert values["exportKubeConfig"]["server"] == server, "the default kubeconfig's localhost:8443 is unreachable from other pods"
    [secret] = values["exportKubeConfig"]["additionalSecrets"]
    assert (secret["name"], secret["namespace"], secret["server"]) == ("staging-kubeconfig", "vcluster-default-staging", server)
    kustomizations = {k.split("/")[1]: o["spec"] for k, o in found.items() if k.startswith("Kustomization/")}
    assert kustomizations["staging-dependencies"]["path"] == "./vcluster-default-staging/dependencies"
    assert kustomizations["staging-resources"]["path"] == "./vcluster-default-staging/resources"
    assert kustomizations["staging-resources"]["dependsOn"] == [{"name": "staging-dependencies"}]
    assert kustomizations["staging-dependencies"]["dependsOn"] == [{"name": "staging-flux"}], "HelmReleases need Flux's CRDs inside first"
    for name, spec in kustomizations.items():
        assert spec["kubeConfig"]["secretRef"] == {"name": "staging-kubeconfig", "key": "config"}, name
        # Deleting the VCluster takes the API server along: a prune inside it could never finish.
        assert spec["deletionPolicy"] == "Orphan", name
    assert not [k for k, o in found.items() if k.startswith("HelmRelease/") and "kubeConfig" in o["spec"]], "a remote HelmRelease's finalizer hangs once the vCluster is gone"


def test_flux_inside_runs_only_the_source_and_helm_controllers() -> None:
    found = objects(render({"environment": "staging"}))
    source = found["OCIRepository/flux"]["spec"]
    assert (source["url"], source["ref"]) == (SETTINGS["vcluster"]["fluxManifests"]["url"], {"tag": SETTINGS["vcluster"]["fluxManifests"]["tag"]})
    [patch] = found["Kustomization/staging-flux"]["spec"]["patches"]
    removed = patch["target"]["name"].strip("()").split("|")
    assert set(removed) == {"kustomize-controller", "notification-controller", "image-reflector-controller", "image-automation-controller"}
    assert yaml.safe_load(patch["patch"])["$patch"] == "delete"


@pytest.mark.parametrize(
    ("spec", "path", "expected", "reason"),
    [
        ({"environment": "a", "size": "large"}, ("controlPlane", "statefulSet", "persistence", "volumeClaim", "size"), "20Gi", "the size preset sets the volume"),
        ({"environment": "a", "persistence": {"size": "7Gi"}}, ("controlPlane", "statefulSet", "persistence", "volumeClaim", "size"), "7Gi", "persistence.size overrides it"),
        ({"environment": "a", "quota": {"pods": 9}}, ("policies", "resourceQuota", "quota", "count/pods"), 9, "a quota field overrides the preset's"),
        ({"environment": "a", "kubernetesVersion": "v1.35.2"}, ("controlPlane", "distro", "k8s", "image", "tag"), "v1.35.2", "the version is the k8s image's tag"),
        ({"environment": "a", "sync": {"ingresses": False}}, ("sync", "toHost", "ingresses", "enabled"), False, "ingress sync can be turned off"),
        ({"environment": "a", "isolation": {"network": False}}, ("policies", "networkPolicy"), {"enabled": False}, "no host NetworkPolicies without isolation"),
        ({"environment": "a", "isolation": {"allowCIDRs": ["192.168.1.0/24"]}}, ("policies", "networkPolicy", "workload", "egress"), [{"to": [{"ipBlock": {"cidr": "192.168.1.0/24"}}]}], "allowCIDRs opens LAN ranges beside the public egress"),
    ],
)
def test_chart_values(spec: dict[str, Any], path: tuple[str, ...], expected: Any, reason: str) -> None:
    values: Any = objects(render(spec))["HelmRelease/staging"]["spec"]["values"]
    for key in path:
        values = values[key]
    assert values == expected, reason


def test_every_rendered_values_set_validates_against_the_vendored_chart_schema() -> None:
    for spec in ({"environment": "a"}, {"environment": "a", "size": "large", "isolation": {"allowCIDRs": ["10.1.0.0/16"], "podSecurity": "restricted"}, "sync": {"ingresses": False}}):
        assert checks.chart_values_violations(objects(render(spec)).values()) == []
    broken = copy.deepcopy(objects(render({"environment": "a"}))["HelmRelease/staging"])
    broken["spec"]["values"]["controlPlane"]["distro"]["k3s"] = {"enabled": True}
    assert checks.chart_values_violations([broken]), "k3s is gone since vCluster 0.33: the schema refuses it"


def test_host_names_never_meet() -> None:
    assert host_name("default", "staging") == "vcluster-default-staging"
    assert host_name("team-a", "web") != host_name("team", "a-web")
    long = host_name("n" * 63, "v" * 32)
    assert len(long) == 63 and long != host_name("n" * 63, "v" * 31)


@pytest.mark.parametrize(
    ("spec", "status", "allow_privileged", "error"),
    [
        ({"environment": "a", "isolation": {"podSecurity": "privileged"}}, None, False, "spec.isolation.podSecurity: guardrail privileged"),
        ({"environment": "a", "size": "medium"}, {"volumeSize": "5Gi"}, False, "spec.persistence.size: the control plane's volume is 5Gi and cannot be resized (got 10Gi)"),
        ({"environment": "a", "quota": {"memory": "128Mi"}}, None, False, "spec.quota.memory: guardrail quota-floor: must leave room for the control plane's memory request (256Mi; got 128Mi)"),
    ],
    ids=["privileged-gated", "no-resize", "quota-floor"],
)
def test_guards(spec: dict[str, Any], status: dict[str, Any] | None, allow_privileged: bool, error: str) -> None:
    platform = copy.deepcopy(SETTINGS)
    platform["vcluster"]["allowPrivileged"] = allow_privileged
    with pytest.raises(RequestInvalid) as raised:
        render(spec, status=status, platform=platform)
    assert str(raised.value).startswith(error)


def test_privileged_is_rendered_where_the_platform_allows_it() -> None:
    platform = copy.deepcopy(SETTINGS)
    platform["vcluster"]["allowPrivileged"] = True
    namespace = objects(render({"environment": "a", "isolation": {"podSecurity": "privileged"}}, platform=platform))["Namespace/vcluster-default-staging"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_same_volume_renders_again_when_the_preset_changes_with_it_pinned() -> None:
    result = render({"environment": "a", "size": "medium", "persistence": {"size": "5Gi"}}, status={"volumeSize": "5Gi"})
    assert result.status["volumeSize"] == "5Gi"


# --- the whole flow through the runner: the platform grows through its own requests


def test_a_vcluster_becomes_a_destination_that_requests_land_on_and_leave(tmp_path: Path) -> None:
    runner = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="inprocess")
    assert all(o.ok for o in runner.install(read_documents(PROMISES)))

    # A DevEnvironment for staging before any Destination serves staging: pending, never a crash.
    [outcome] = runner.apply(read_documents([WEB_STAGING]))
    assert outcome.ok and outcome.note == "pending: no Destination matches environment=staging"

    # The VCluster's output reaches the platform Destination, whose Flux would apply its Destination.
    assert all(o.ok for o in runner.apply(read_documents([STAGING])))
    names = {d.name: d for d in runner.destinations()}
    staging = names["vcluster-default-staging"]
    assert (staging.labels["environment"], staging.labels["type"], staging.path) == ("staging", "vcluster", "vcluster-default-staging")

    # Every promise's dependencies reach it as they reach any matching Destination...
    files = {p.relative_to(runner.store.state).as_posix() for p in runner.store.state.rglob("*") if p.is_file()}
    assert any(f.startswith("vcluster-default-staging/dependencies/postgresql/") and f.endswith("helmrelease-cloudnative-pg.yaml") for f in files)
    assert any(f.startswith("vcluster-default-staging/dependencies/devenvironment/") and f.endswith("helmrelease-external-secrets.yaml") for f in files)
    # ...and the pending request lands on it.
    [web] = runner.get("devenvironment", "web-staging", "team-a")
    assert list(web.files()) == ["vcluster-default-staging"]

    # Deleting the VCluster deregisters the Destination: the request waits again, pending.
    assert all(o.ok for o in runner.delete(read_documents([STAGING])))
    assert "vcluster-default-staging" not in {d.name for d in runner.destinations()}
    [web] = runner.get("devenvironment", "web-staging", "team-a")
    assert web.files() == {} and web.pending() == ["devenvironment-web-staging-team-a-render: no Destination matches environment=staging"]

    # A new VCluster for staging takes it in again.
    assert all(o.ok for o in runner.apply(read_documents([STAGING])))
    [web] = runner.get("devenvironment", "web-staging", "team-a")
    assert list(web.files()) == ["vcluster-default-staging"]
