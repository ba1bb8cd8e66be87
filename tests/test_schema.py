"""The schema validator and defaulter: the rules a request is held to, one message each."""

from __future__ import annotations

from typing import Any

import pytest

from promisekit import schema
from promisekit.errors import RequestInvalid

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string", "enum": ["a", "b"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1},
        "label": {"type": "string", "pattern": "^[a-z]+$", "x-rule": "must be lowercase letters", "maxLength": 5},
        "secret": {"type": "string", "pattern": "^x", "x-rule": "must start with x", "x-redact": True},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "items": {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        },
        "nested": {"type": "object", "default": {}, "properties": {"on": {"type": "boolean", "default": True}}},
        "free": {"type": "object", "additionalProperties": {"type": "string"}},
        "port": {"x-kubernetes-int-or-string": True},
    },
}

REJECTED = [
    ("a required field is missing", {}, "kind: is required"),
    ("an enum value outside the list", {"kind": "c"}, 'kind: must be one of a, b (got "c")'),
    ("a string where an integer belongs", {"kind": "a", "count": "2"}, 'count: must be an integer (got "2")'),
    ("a boolean is not an integer", {"kind": "a", "count": True}, "count: must be an integer (got true)"),
    ("below the minimum", {"kind": "a", "count": 0}, "count: must be at least 1 (got 0)"),
    ("above the maximum", {"kind": "a", "count": 4}, "count: must be at most 3 (got 4)"),
    ("a pattern, worded by x-rule", {"kind": "a", "label": "ABC"}, 'label: must be lowercase letters (got "ABC")'),
    ("a redacted value is never echoed", {"kind": "a", "secret": "hunter2"}, "secret: must start with x"),
    ("too long", {"kind": "a", "label": "abcdef"}, "label: must be at most 5 characters long (got 6)"),
    ("too many items", {"kind": "a", "tags": ["a", "b", "c"]}, "tags: must have at most 2 items (got 3)"),
    ("a set with duplicates", {"kind": "a", "tags": ["a", "a"]}, "tags: must not contain duplicates"),
    ("a map list with a duplicate key", {"kind": "a", "items": [{"name": "x"}, {"name": "x"}]}, 'items[1]: duplicate name "x"'),
    ("an unknown field", {"kind": "a", "colour": "red"}, "colour: unknown field"),
    ("an unknown nested field", {"kind": "a", "nested": {"off": True}}, "nested.off: unknown field"),
    ("additionalProperties types the values", {"kind": "a", "free": {"k": 1}}, "free.k: must be a string (got 1)"),
    ("int-or-string refuses a list", {"kind": "a", "port": []}, "port: must be an integer or a string (got a list)"),
    ("null is not a string", {"kind": None}, "kind: must be a string (got null)"),
]


@pytest.mark.parametrize(("reason", "value", "message"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejections_name_the_field_and_the_rule(reason: str, value: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        schema.validate(SCHEMA, value)
    assert str(caught.value) == message, reason


def test_defaults_fill_nested_objects_like_the_api_server() -> None:
    assert schema.apply_defaults(SCHEMA, {"kind": "a"}) == {"kind": "a", "count": 1, "nested": {"on": True}}


def test_defaults_do_not_touch_the_input() -> None:
    value = {"kind": "a"}
    schema.apply_defaults(SCHEMA, value)
    assert value == {"kind": "a"}


def test_a_valid_value_passes() -> None:
    schema.validate(SCHEMA, {"kind": "b", "count": 3, "label": "ok", "tags": ["a"], "items": [{"name": "x"}], "free": {"k": "v"}, "port": 80})


def test_field_rows_walk_the_spec_in_order() -> None:
    rows = schema.field_rows({"properties": {"a": {"type": "object", "default": {}, "properties": {"b": {"type": "string", "enum": ["x"], "description": "B"}}}}})
    assert rows == [("spec.a", "object", "{}", ""), ("spec.a.b", "string (x)", "", "B")]
