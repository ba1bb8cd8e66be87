"""Offline checks on rendered output: would the API server accept it, does it meet the restricted
Pod Security profile, does it leak a credential into the state store.

Schemas come from schemas/upstream (verbatim upstream CRDs) and kubernetes-validate; nothing
outside the repository is read.
"""

from promisekit.checks._charts import chart_values_violations
from promisekit.checks._crds import crd_for
from promisekit.checks._leaks import find_secret_leaks
from promisekit.checks._manifest import ManifestInvalid, validate_manifest, validate_with_crd
from promisekit.checks._privileged import PRIVILEGED_WORKLOADS, PrivilegedWorkload
from promisekit.checks._pss import check_pod_security, pod_security_violations

__all__ = [
    "PRIVILEGED_WORKLOADS",
    "ManifestInvalid",
    "PrivilegedWorkload",
    "chart_values_violations",
    "check_pod_security",
    "crd_for",
    "find_secret_leaks",
    "pod_security_violations",
    "validate_manifest",
    "validate_with_crd",
]
