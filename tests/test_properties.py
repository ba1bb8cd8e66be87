"""Property-based tests, generated from each promise's API schema.

Random valid requests render and pass every conformance check; random invalid ones are
rejected with the one-line message, never a traceback; and the pipeline's own validation
agrees with what the API server (the CRD schema and its CEL rules) would admit.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis_jsonschema import from_schema

from harness import PROMISES, promise_document, run_inprocess
from promisekit import checks, schema
from test_conformance import check_rendered

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
NAMES = st.from_regex(r"\A[a-z]([-a-z0-9]{0,30}[a-z0-9])?\Z")


def generation_schema(node: Any) -> Any:
    """The CRD schema as plain JSON Schema: closed objects (the API server rejects unknown fields), no x- keys."""
    if isinstance(node, dict):
        out = {k: generation_schema(v) for k, v in node.items() if not k.startswith("x-") and k != "default"}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if node.get("x-kubernetes-list-type") in ("set", "map"):
            out["uniqueItems"] = True
        return out
    if isinstance(node, list):
        return [generation_schema(v) for v in node]
    return node


def crd(name: str) -> dict[str, Any]:
    return promise_document(name)["spec"]["api"]


def requests(name: str) -> st.SearchStrategy[dict[str, Any]]:
    api = schema.load_api(name)
    spec = from_schema(generation_schema(api.schema["properties"]["spec"]))
    return st.builds(
        lambda n, s: {"apiVersion": api.api_version, "kind": api.kind, "metadata": {"name": n, "namespace": "team-a"}, "spec": s},
        NAMES,
        spec,
    )


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
    @PROFILE
    @given(requests(name))
    def check(request: dict[str, Any]) -> None:
        admitted = api_server_admits(name, request)
        run = run_inprocess(name, request, "resource", "configure", tmp_path_factory.mktemp("valid"))
        assert (run.returncode == 0) == admitted, f"pipeline and API server disagree: {run.stderr or 'accepted'}"
        assume(admitted)
        check_rendered(run)

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


def test_generation_schema_closes_objects() -> None:
    closed = generation_schema({"type": "object", "properties": {"a": {"type": "string", "x-rule": "r", "default": "d"}}})
    assert closed == {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
