"""Property-based tests, generated from each promise's API schema.

Random valid requests render and pass every conformance check; random invalid ones are
rejected with the one-line message, never a traceback; and the pipeline's own validation
agrees with what the API server (the CRD schema and its CEL rules) would admit.
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from harness import PROMISES, examples, load, promise_document, run_inprocess
from promisekit import checks, schema
from test_conformance import check_rendered

# cel-python raises the limit to 2500 in every Environment(); raising it first keeps
# Hypothesis from seeing it change mid-test.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 2500))

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PIPELINE_ONLY_GUARDRAIL = re.compile(r"^error: (metadata\.namespace|spec\.[\w.\[\]]*): guardrail [a-z]+(-[a-z]+)*: ")
NAMES = st.from_regex(r"\A[a-z]([-a-z0-9]{0,30}[a-z0-9])?\Z")


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema admits, before its CEL rules: what `kubectl apply` could send."""
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(node.get("minimum", -(2**31)), node.get("maximum", 2**31))
    if kind == "string":
        if "pattern" in node:
            limit = node.get("maxLength", 10_000)
            return st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: len(s) <= limit)
        return st.text(min_size=node.get("minLength", 0), max_size=min(node.get("maxLength", 64), 64))
    if kind == "array":
        items = st.lists(from_schema(node.get("items", {})), max_size=min(node.get("maxItems", 4), 4))
        if node.get("x-kubernetes-list-type") == "set":
            return items.map(lambda xs: list(dict.fromkeys(xs)))
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            return items.map(lambda xs: list({tuple(x.get(k) for k in keys): x for x in xs}.values()))
        return items
    if kind == "object":
        required = set(node.get("required", ()))
        fields = {k: from_schema(v) for k, v in node.get("properties", {}).items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    raise AssertionError(f"no strategy for schema node {node}")


def crd(name: str) -> dict[str, Any]:
    return promise_document(name)["spec"]["api"]


def requests(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Whole specs drawn from the schema, and example requests with one field redrawn from it.

    The second kind reaches deep into APIs whose CEL rules a blind draw almost never meets
    (an ImmunityTest's steps), while staying one field away from a request a user wrote.
    """
    api = schema.load_api(name)
    spec = from_schema(api.schema["properties"]["spec"])
    drawn = st.builds(
        lambda n, s: {"apiVersion": api.api_version, "kind": api.kind, "metadata": {"name": n, "namespace": "team-a"}, "spec": s},
        NAMES,
        spec,
    )
    spots = [
        (base, path, node)
        for base in (load(path) for path in examples(name))
        for path, node in _fields(api.schema["properties"]["spec"], base.get("spec") or {}, ())
    ]
    if not spots:
        return drawn
    neighbours = st.sampled_from(spots).flatmap(lambda spot: st.builds(_redraw, NAMES, st.just(spot[0]), st.just(spot[1]), from_schema(spot[2])))
    return st.one_of(drawn, neighbours)


def _fields(node: dict[str, Any], value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every (path, schema node) a request can redraw, array items included where the value has them."""
    found: list[tuple[tuple[str | int, ...], dict[str, Any]]] = [(path, node)] if path else []
    if node.get("type") == "object" and isinstance(value, dict):
        for key, child in node.get("properties", {}).items():
            found += _fields(child, value.get(key), (*path, key))
    elif node.get("type") == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            found += _fields(node.get("items", {}), item, (*path, index))
    return found


def _redraw(name: str, base: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    request = copy.deepcopy(base)
    request["metadata"] = {"name": name, "namespace": base["metadata"].get("namespace", "default")}
    node = request.setdefault("spec", {})
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return request


def api_server_admits(name: str, request: dict[str, Any]) -> bool:
    api = schema.load_api(name)
    defaulted = copy.deepcopy(request)
    defaulted["spec"] = schema.apply_defaults(api.schema["properties"]["spec"], request["spec"])
    try:
        checks.validate_with_crd(defaulted, crd(name))
    except checks.ManifestInvalid:
        return False
    return True


@pytest.mark.parametrize("name", PROMISES)
def test_random_valid_requests_render_and_pass_every_check(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Valid requests of an API with many cross-field rules are rare among drawn ones: the draw
    # filters on purpose, and Hypothesis still needs 60 that pass (Unsatisfiable if it finds none).
    @settings(PROFILE, suppress_health_check=[*PROFILE.suppress_health_check, HealthCheck.filter_too_much])
    @given(requests(name))
    def check(request: dict[str, Any]) -> None:
        admitted = api_server_admits(name, request)
        run = run_inprocess(name, request, "resource", "configure", tmp_path_factory.mktemp("valid"))
        if admitted and run.returncode != 0:
            # Only a guardrail that needs what the API server cannot see (the request's namespace,
            # the platform settings) may refuse what the schema admits, and it names itself.
            assert PIPELINE_ONLY_GUARDRAIL.search(run.stderr), f"pipeline and API server disagree: {run.stderr}"
        else:
            assert (run.returncode == 0) == admitted, f"pipeline and API server disagree: {run.stderr or 'accepted'}"
        assume(run.returncode == 0)
        check_rendered(run, request)

    check()


def _mutations(name: str) -> st.SearchStrategy[tuple[str, Any]]:
    """(dotted spec path, bad value) pairs: wrong types, unknown enum values, unknown fields."""
    bad_values = st.one_of(st.integers(), st.booleans(), st.lists(st.integers(), max_size=2), st.text(max_size=8), st.none())
    paths = [row[0].removeprefix("spec.") for row in schema.field_rows(schema.load_api(name).schema["properties"]["spec"]) if "[]" not in row[0]]
    return st.tuples(st.sampled_from(paths + ["unknownField"]), bad_values)


@pytest.mark.parametrize("name", PROMISES)
def test_random_invalid_requests_are_rejected_in_one_line(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    @PROFILE
    @given(requests(name), _mutations(name))
    def check(request: dict[str, Any], mutation: tuple[str, Any]) -> None:
        path, value = mutation
        node = request["spec"]
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else {}
        node[leaf] = value
        assume(not api_server_admits(name, request))
        run = run_inprocess(name, request, "resource", "configure", tmp_path_factory.mktemp("invalid"))
        assert run.returncode == 1
        assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1, run.stderr
        assert "Traceback" not in run.stderr
        assert run.files == {} and run.selectors is None
        assert run.status == {"message": run.stderr.removeprefix("error: ").rstrip("\n")}

    check()
