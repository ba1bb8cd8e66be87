"""Chaos Mesh itself: one Flux HelmRelease per Destination, its container runtime chosen per
Destination, and the dashboard every request's status points at."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from promisekit import components, naming
from promisekit.contract import Result, Selector
from promisekit.errors import SettingsInvalid
from promisekit.render import render_objects
from promisekit.yamlio import dump_one

TEMPLATES = Path(__file__).resolve().parent / "templates"
RELEASE = "chaos-mesh"
# Where Chaos Mesh runs, and so the only Destinations an experiment may land on.
DESTINATIONS: Mapping[str, str] = {"type": "cluster"}
RUNTIME_LABEL = "chaos-mesh.homelab.io/runtime"
# Flux merges valuesFrom in order: the default first, a Destination's own runtime over it.
DEFAULT_RUNTIME_VALUES = "chaos-mesh-runtime-default"
RUNTIME_VALUES = "chaos-mesh-runtime"
DASHBOARD_TLS_SECRET = "chaos-dashboard-tls"
# helm-controller re-reconciles the release when a ConfigMap with this label changes.
FLUX_WATCH_LABEL = {"reconcile.fluxcd.io/watch": "Enabled"}


def install(settings: Mapping[str, Any], *, labels: Mapping[str, str]) -> Result:
    """Chaos Mesh on every Destination labelled type=cluster, with that Destination's runtime.

    Kratix matches labels only, never their absence, so one variant per runtime cannot give the
    unlabelled Destinations a default without placing two releases on labelled ones. Instead
    every Destination gets the same release and a default runtime ConfigMap (the root group),
    and a Destination labelled chaos-mesh.homelab.io/runtime=<name> also gets runtime-<name>/,
    a ConfigMap the release reads over the default.
    """
    chaos = settings["chaos"]
    runtimes = _checked_runtimes(chaos)
    objects = components.helm_release(
        name=RELEASE,
        namespace=chaos["chart"]["namespace"],
        chart=chaos["chart"],
        values=chart_values(settings),
        labels=labels,
        pod_security="privileged",
    )
    release = objects[-1]
    release["spec"]["valuesFrom"] = [
        {"kind": "ConfigMap", "name": DEFAULT_RUNTIME_VALUES},
        {"kind": "ConfigMap", "name": RUNTIME_VALUES, "optional": True},
    ]
    default = chaos["defaultRuntime"]
    objects.append(runtime_values(DEFAULT_RUNTIME_VALUES, runtimes[default], labels=labels))
    files = components.manifest_files(objects)
    selectors = [Selector(match_labels=dict(DESTINATIONS))]
    for name in sorted(runtimes):
        if name == default:
            continue
        directory = f"runtime-{name}"
        override = runtime_values(RUNTIME_VALUES, runtimes[name], labels=labels)
        files[f"{directory}/{components.manifest_file_name(override)}"] = dump_one(override)
        # A directory entry ignores the Promise's selectors: it names every label itself.
        selectors.append(Selector(match_labels={**DESTINATIONS, RUNTIME_LABEL: name}, directory=directory))
    others = ", ".join(n for n in sorted(runtimes) if n != default)
    return Result(
        files=files,
        selectors=selectors,
        status={
            "message": f"Chaos Mesh {chaos['chart']['version']} through Flux on Destinations labelled type=cluster; "
            f"runtime {default} unless labelled {RUNTIME_LABEL}={{{others}}}; dashboard {dashboard_url(settings)}"
        },
    )


def chart_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The chart's values, but the runtime: that comes per Destination (valuesFrom)."""
    chaos = settings["chaos"]
    ingress = settings["ingress"]
    tls = bool(ingress["clusterIssuer"])
    dashboard_ingress: dict[str, Any] = {
        "enabled": True,
        "ingressClassName": ingress["className"],
        "hosts": [{"name": dashboard_host(settings), "tls": tls, "tlsSecret": DASHBOARD_TLS_SECRET}],
        "paths": ["/"],
    }
    if tls:
        dashboard_ingress["annotations"] = {"cert-manager.io/cluster-issuer": ingress["clusterIssuer"]}
    return {
        "timezone": chaos["timezone"],
        # pprof would listen on every node's chaos-daemon.
        "enableProfiling": False,
        "controllerManager": {
            # Only namespaces annotated chaos-mesh.org/inject=enabled can be targeted.
            "enableFilterNamespace": True,
            "podChaos": {"podFailure": {"pauseImage": chaos["pauseImage"]}},
        },
        # Listed in promisekit.checks PRIVILEGED_WORKLOADS; its namespace enforces privileged.
        "chaosDaemon": {"privileged": True},
        "dashboard": {
            "securityMode": True,
            "service": {"type": "ClusterIP"},
            "ingress": dashboard_ingress,
        },
        # DNSChaos is not offered: no DNS server to run.
        "dnsServer": {"create": False},
    }


def runtime_values(name: str, runtime: Mapping[str, str], *, labels: Mapping[str, str]) -> dict[str, Any]:
    values = {"chaosDaemon": {"runtime": runtime["runtime"], "socketPath": runtime["socketPath"]}}
    return render_objects(
        TEMPLATES,
        "runtime-values.yaml.j2",
        name=name,
        namespace=components.FLUX_NAMESPACE,
        labels={**labels, **FLUX_WATCH_LABEL},
        values_yaml=dump_one(values),
    )[0]


def dashboard_host(settings: Mapping[str, Any]) -> str:
    return f"chaos.{settings['domain']}"


def dashboard_url(settings: Mapping[str, Any]) -> str:
    scheme = "https" if settings["ingress"]["clusterIssuer"] else "http"
    return f"{scheme}://{dashboard_host(settings)}"


def dashboard_viewer(*, name: str, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding that let its token read the namespace's chaos in the dashboard."""
    return render_objects(TEMPLATES, "dashboard-viewer.yaml.j2", name=name, namespace=namespace, labels=labels)


def _checked_runtimes(chaos: Mapping[str, Any]) -> Mapping[str, Mapping[str, str]]:
    runtimes = chaos["runtimes"]
    for name in runtimes:
        if not naming.DNS_LABEL.match(name):
            raise SettingsInvalid(f"settings.chaos.runtimes: {name!r} must be a DNS label (it is a Destination label value)")
    if chaos["defaultRuntime"] not in runtimes:
        raise SettingsInvalid(f"settings.chaos.defaultRuntime: {chaos['defaultRuntime']!r} is not one of chaos.runtimes")
    return runtimes
