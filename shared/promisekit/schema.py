"""Schema-first APIs: one OpenAPI v3 schema per promise, used for the CRD, the defaults,
the pipeline's own validation and the README's field table.

The validator covers the structural-schema subset that CRDs use, and reports the first
problem as one line naming the field and the rule, the way the API server would.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple

from promisekit.errors import RequestInvalid
from promisekit.yamlio import load_one

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = REPO_ROOT / "schemas"

# Keywords of ours, stripped from the CRD: x-rule words a pattern's message, x-redact keeps a value out of it.
OUR_KEYWORDS = frozenset({"x-rule", "x-redact"})

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
}


class Api(NamedTuple):
    """A promise's API: its names, printer columns and openAPIV3Schema."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[dict[str, Any], ...]
    schema: dict[str, Any]
    name_max_length: int

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


@lru_cache(maxsize=None)
def load_api(promise: str) -> Api:
    """Read schemas/<promise>/api.yaml."""
    data = load_one((SCHEMAS_DIR / promise / "api.yaml").read_text(encoding="utf-8"))
    return Api(
        group=data["group"],
        version=data["version"],
        kind=data["kind"],
        plural=data["plural"],
        singular=data["singular"],
        short_names=tuple(data.get("shortNames", ())),
        printer_columns=tuple(data.get("printerColumns", ())),
        schema=data["openAPIV3Schema"],
        name_max_length=int(data.get("nameMaxLength", 63)),
    )


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Return a copy of value with every schema default filled in, as the API server does."""
    return _defaulted(schema, copy.deepcopy(value))


def _defaulted(schema: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _defaulted(sub, value[key])
    elif isinstance(value, list) and "items" in schema:
        return [_defaulted(schema["items"], item) for item in value]
    return value


def validate(schema: dict[str, Any], value: Any, path: str = "") -> None:
    """Raise RequestInvalid for the first place where value breaks schema."""
    _check(schema, value, path)


def _check(schema: dict[str, Any], value: Any, path: str) -> None:
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise RequestInvalid(path, f"must be an integer or a string (got {describe(value)})")
    elif expected and not _is_type(value, expected):
        raise RequestInvalid(path, f"must be {_TYPE_NAMES[expected]} (got {describe(value)})")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(c) for c in schema["enum"])
        raise RequestInvalid(path, f"must be one of {choices} (got {describe(value)})")
    if isinstance(value, str):
        _check_string(schema, value, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, path)
    elif isinstance(value, list):
        _check_list(schema, value, path)
    elif isinstance(value, dict):
        _check_object(schema, value, path)


def _check_string(schema: dict[str, Any], value: str, path: str) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise RequestInvalid(path, f"must be at least {schema['minLength']} characters long")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise RequestInvalid(path, f"must be at most {schema['maxLength']} characters long (got {len(value)})")
    if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
        rule = schema.get("x-rule") or f"must match {schema['pattern']}"
        # x-redact: the value may hold a credential, and the message lands in status.
        raise RequestInvalid(path, rule if schema.get("x-redact") else f"{rule} (got {describe(value)})")


def _check_number(schema: dict[str, Any], value: float, path: str) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        raise RequestInvalid(path, f"must be at least {schema['minimum']} (got {value})")
    if "maximum" in schema and value > schema["maximum"]:
        raise RequestInvalid(path, f"must be at most {schema['maximum']} (got {value})")


def _check_list(schema: dict[str, Any], value: list[Any], path: str) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        raise RequestInvalid(path, f"must have at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise RequestInvalid(path, f"must have at most {schema['maxItems']} items (got {len(value)})")
    item_schema = schema.get("items", {})
    for index, item in enumerate(value):
        _check(item_schema, item, f"{path}[{index}]")
    if schema.get("x-kubernetes-list-type") == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen: set[tuple[Any, ...]] = set()
        for index, item in enumerate(value):
            ident = tuple(item.get(k) for k in keys)
            if ident in seen:
                raise RequestInvalid(f"{path}[{index}]", f"duplicate {'/'.join(keys)} {describe(ident[0] if len(ident) == 1 else ident)}")
            seen.add(ident)
    elif schema.get("x-kubernetes-list-type") == "set" and len({repr(v) for v in value}) != len(value):
        raise RequestInvalid(path, "must not contain duplicates")


def _check_object(schema: dict[str, Any], value: dict[str, Any], path: str) -> None:
    for key in schema.get("required", ()):
        if key not in value:
            raise RequestInvalid(_join(path, key), "is required")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key in value:
        if not isinstance(key, str):
            raise RequestInvalid(path, f"keys must be strings (got {describe(key)})")
    for key in value:
        if key in properties:
            _check(properties[key], value[key], _join(path, key))
        elif isinstance(extra, dict):
            _check(extra, value[key], _join(path, key))
        elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
            continue
        elif properties or extra is False:
            raise RequestInvalid(_join(path, key), "unknown field")
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        raise RequestInvalid(path, f"must have at least {schema['minProperties']} entries")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise RequestInvalid(path, f"must have at most {schema['maxProperties']} entries (got {len(value)})")


def _is_type(value: Any, expected: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    return checks[expected](value)


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return '"' + shown.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return str(value)
    return _TYPE_NAMES.get({dict: "object", list: "array"}.get(type(value), ""), type(value).__name__)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(as_re2(pattern))


def as_re2(pattern: str) -> str:
    """The pattern with RE2's `$` (the API server's): the end of the text, where Python's `$`
    also matches before a final newline, which would let "dev\n" pass for a DNS label."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
    return "".join(out)


def field_rows(schema: dict[str, Any], path: str = "spec") -> list[tuple[str, str, str, str]]:
    """(field, type, default, description) for every leaf and object of the spec, in order."""
    rows: list[tuple[str, str, str, str]] = []
    for key, sub in schema.get("properties", {}).items():
        here = f"{path}.{key}"
        type_name = sub.get("type", "int-or-string" if sub.get("x-kubernetes-int-or-string") else "")
        if type_name == "array" and "type" in sub.get("items", {}):
            type_name = f"list of {sub['items']['type']}"
        if "enum" in sub:
            type_name += " (" + " \\| ".join(str(c) for c in sub["enum"]) + ")"
        default = "" if "default" not in sub else _default_text(sub["default"])
        description = " ".join(str(sub.get("description", "")).split())
        rows.append((here, type_name, default, description))
        if sub.get("type") == "object":
            rows.extend(field_rows(sub, here))
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            rows.extend(field_rows(sub["items"], here + "[]"))
    return rows


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    return str(value)
