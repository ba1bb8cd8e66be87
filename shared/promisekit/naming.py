"""Names and labels every rendered object carries."""

from __future__ import annotations

import re

MAX_NAME = 63
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PART_OF = "cybernetic-promises"
MANAGED_BY = "kratix"


def object_name(*parts: str, limit: int = MAX_NAME) -> str:
    """Join parts with '-', cut to the limit, and trim a trailing '-' (the Bitnami rule)."""
    return "-".join(p for p in parts if p)[:limit].rstrip("-")


def selector_labels(*, promise: str, request: str, component: str) -> dict[str, str]:
    """The fixed subset a selector may use: it cannot change after creation."""
    return {
        "app.kubernetes.io/name": promise,
        "app.kubernetes.io/instance": request,
        "app.kubernetes.io/component": component,
    }


def dependency_labels(*, promise: str, component: str, version: str) -> dict[str, str]:
    """The standard labels of what a promise's own workflow delivers: no request, so no request namespace."""
    labels = standard_labels(promise=promise, request="dependencies", namespace="", component=component, version=version)
    del labels["platform.homelab.io/request-namespace"]
    return labels


def standard_labels(*, promise: str, request: str, namespace: str, component: str, version: str) -> dict[str, str]:
    """The app.kubernetes.io set, plus labels tying the object to its promise and request."""
    return {
        **selector_labels(promise=promise, request=request, component=component),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/version": version,
        "kratix.io/promise-name": promise,
        "platform.homelab.io/request-name": request,
        "platform.homelab.io/request-namespace": namespace,
    }
