"""Flux HelmRelease values checked against the vendored values of their chart, as `helm install`
would check them (values.schema.json) and beyond: Helm ignores a key the chart does not know,
so a misspelt key passes silently; where the chart's values.yaml is vendored, every key we set
must be one it has (below a key whose default is empty, anything goes: labels, annotations).

The values checked are the release's own and, for each ConfigMap of its valuesFrom found in
the same output, that ConfigMap's values merged over them (Flux merges in order, later wins).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Iterable, Iterator, Mapping

import jsonschema
import yaml
from jsonschema.exceptions import best_match

from promisekit.checks._crds import UPSTREAM_DIR

# Chart name -> its folder under schemas/upstream.
VENDORED_CHARTS = {"vcluster": "vcluster-chart", "chaos-mesh": "chaos-mesh-chart"}


@lru_cache(maxsize=None)
def _validator(folder: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((UPSTREAM_DIR / folder / "values.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=None)
def _defaults(folder: str) -> Any:
    path = UPSTREAM_DIR / folder / "values.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(out.get(key), Mapping) and isinstance(value, Mapping) else value
    return out


def _unknown_keys(values: Any, defaults: Any, path: str) -> Iterator[str]:
    if not isinstance(values, Mapping) or not isinstance(defaults, Mapping) or not defaults:
        return
    for key, value in values.items():
        if key not in defaults:
            yield f"{path}.{key}: the chart has no such value (values.yaml)"
        else:
            yield from _unknown_keys(value, defaults[key], f"{path}.{key}")


def values_violations(chart: str, values: Mapping[str, Any]) -> list[str]:
    """What `helm install` of the vendored chart would refuse, or silently ignore, in these values."""
    folder = VENDORED_CHARTS[chart]
    problems = []
    error = best_match(_validator(folder).iter_errors(dict(values)))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"values{where}: {error.message}")
    problems += _unknown_keys(values, _defaults(folder), "values")
    return problems


def chart_values_violations(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """For every HelmRelease of a vendored chart in the output: its values, alone and with each valuesFrom ConfigMap."""
    objects = list(objects)
    configmaps = {
        (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj
        for obj in objects
        if obj.get("apiVersion") == "v1" and obj.get("kind") == "ConfigMap"
    }
    found = []
    for obj in objects:
        if obj.get("kind") != "HelmRelease" or not str(obj.get("apiVersion", "")).startswith("helm.toolkit.fluxcd.io/"):
            continue
        spec = obj.get("spec", {})
        chart = spec.get("chart", {}).get("spec", {}).get("chart")
        if chart not in VENDORED_CHARTS:
            continue
        label = f"HelmRelease/{obj['metadata']['name']}"
        base = spec.get("values") or {}
        variants = [("", base)]
        for source in spec.get("valuesFrom", []):
            configmap = configmaps.get((obj["metadata"].get("namespace", ""), source["name"])) if source.get("kind") == "ConfigMap" else None
            if configmap is None:
                continue
            key = source.get("valuesKey", "values.yaml")
            over = yaml.safe_load(configmap.get("data", {}).get(key, "")) or {}
            variants.append((f" with ConfigMap {source['name']}", merged(base, over)))
        found += [f"{label}{where}: {problem}" for where, values in variants for problem in values_violations(chart, values)]
    return found
