"""A CRD version's openAPIV3Schema as a JSON Schema validator that rejects what the API server
rejects under `fieldValidation=Strict`: it applies defaults and drops non-nullable nulls first,
then treats pruned (unknown) fields as errors and runs the `x-kubernetes-validations` CEL rules.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from promisekit.checks._cel import rule_failures
from promisekit.schema import as_re2

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(\.{_DNS_LABEL})*"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
# Lookaheads keep the prefix <= 253 and the name <= 63 characters, as IsQualifiedName does.
_QUALIFIED_NAME = rf"^((?=[^/]{{1,253}}/){_DNS_SUBDOMAIN}/)?(?=[^/]{{1,63}}$){_LABEL_NAME}$"

_QUALIFIED_KEY = {
    "pattern": _QUALIFIED_NAME,
    "x-rule": "is not a qualified name ([DNS-subdomain prefix/]name; name <= 63 of [A-Za-z0-9-_.], alphanumeric at both ends)",
}
_LABELS = {
    "type": "object",
    "propertyNames": _QUALIFIED_KEY,
    "additionalProperties": {
        "type": "string",
        "maxLength": 63,
        "pattern": rf"^({_LABEL_NAME})?$",
        "x-rule": "is not a label value (<= 63 of [A-Za-z0-9-_.], alphanumeric at both ends)",
    },
}
_ANNOTATIONS = {"type": "object", "propertyNames": _QUALIFIED_KEY, "additionalProperties": {"type": "string"}}
_NAMESPACE = {
    "type": "string",
    "maxLength": 63,
    "pattern": rf"^{_DNS_LABEL}$",
    "x-rule": "is not an RFC 1123 label (lowercase alphanumerics and '-', alphanumeric at both ends)",
}
_STRING = {"type": "string"}
_TIMESTAMP = {"type": ["string", "null"]}

# Checks the API server makes on any object's metadata whatever its kind (built-in or embedded).
COMMON_METADATA: dict[str, Any] = {
    "type": "object",
    "properties": {"namespace": _NAMESPACE, "labels": _LABELS, "annotations": _ANNOTATIONS},
}

# A custom resource's own metadata: only ObjectMeta fields, and a DNS-1123 subdomain name.
_ROOT_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 253,
            "pattern": rf"^{_DNS_SUBDOMAIN}$",
            "x-rule": "is not an RFC 1123 subdomain (lowercase alphanumerics, '-' and '.', alphanumeric at both ends)",
        },
        "generateName": _STRING,
        "namespace": _NAMESPACE,
        "labels": _LABELS,
        "annotations": _ANNOTATIONS,
        "finalizers": {"type": "array", "items": _STRING},
        "ownerReferences": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["apiVersion", "kind", "name", "uid"],
                "additionalProperties": False,
                "properties": {
                    "apiVersion": _STRING,
                    "kind": _STRING,
                    "name": _STRING,
                    "uid": _STRING,
                    "controller": {"type": "boolean"},
                    "blockOwnerDeletion": {"type": "boolean"},
                },
            },
        },
        "uid": _STRING,
        "resourceVersion": _STRING,
        "selfLink": _STRING,
        "generation": {"type": "integer"},
        "creationTimestamp": _TIMESTAMP,
        "deletionTimestamp": _TIMESTAMP,
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}

# OpenAPI keywords that mean the same in JSON Schema 2020-12; the rest is documentation or handled below.
_SAME_MEANING = (
    "type",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
)
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _cel_keyword(
    validator: Any, rules: list[dict[str, Any]], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    for message in rule_failures(rules, instance):
        yield ValidationError(message)


def _list_type_keyword(validator: Any, list_type: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    # The API server rejects duplicates in `set` lists and duplicate keys in `map` lists.
    if list_type not in ("set", "map") or not isinstance(instance, list):
        return
    map_keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for index, item in enumerate(instance):
        key = {k: item.get(k) for k in map_keys} if list_type == "map" and isinstance(item, dict) else item
        text = json.dumps(key, sort_keys=True)
        if text in seen:
            yield ValidationError(f"duplicate entry {text} in a list of type {list_type}", path=[index])
        seen.add(text)


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    # The API server's regular expressions are RE2: `$` is the end of the text, never before a final newline.
    if isinstance(instance, str) and not re.search(as_re2(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"x-kubernetes-validations": _cel_keyword, "x-kubernetes-list-type": _list_type_keyword, "pattern": _pattern_keyword},
)


def _is_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" or "properties" in node


def _convert(node: dict[str, Any], mode: str) -> dict[str, Any]:
    """mode "prune": unknown fields are errors; "skip": under preserve-unknown-fields; "junctor":
    inside allOf/anyOf/oneOf/not, which validate but never prune."""
    out: dict[str, Any] = {key: node[key] for key in _SAME_MEANING if key in node}
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [*(out["type"] if isinstance(out["type"], list) else [out["type"]]), "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # OpenAPI 3.0 spells these as booleans next to minimum/maximum; 2020-12 wants the number.
        if node.get(exclusive) is True and bound in node:
            out[exclusive] = out.pop(bound)
    preserve = mode == "skip" or node.get("x-kubernetes-preserve-unknown-fields") is True
    child_mode = "junctor" if mode == "junctor" else "prune"

    properties = {name: _convert(sub, child_mode) for name, sub in node.get("properties", {}).items()}
    if node.get("x-kubernetes-embedded-resource") is True:
        # An embedded object needs apiVersion and kind; its metadata is checked like any object's.
        properties.setdefault("apiVersion", {"type": "string", "minLength": 1})
        properties.setdefault("kind", {"type": "string", "minLength": 1})
        properties["metadata"] = COMMON_METADATA
        out["required"] = sorted({*out.get("required", []), "apiVersion", "kind"})
    if properties:
        out["properties"] = properties

    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _convert(additional, child_mode)
    elif additional is not None:
        out["additionalProperties"] = additional
    elif mode == "prune" and not preserve and _is_object(node):
        out["additionalProperties"] = False

    if isinstance(node.get("items"), dict):
        out["items"] = _convert(node["items"], "junctor" if mode == "junctor" else ("skip" if preserve else "prune"))
    for junctor in ("allOf", "anyOf", "oneOf"):
        if junctor in node:
            out[junctor] = [_convert(sub, "junctor") for sub in node[junctor]]
    if "not" in node:
        out["not"] = _convert(node["not"], "junctor")
    for extension in ("x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"):
        if extension in node:
            out[extension] = node[extension]
    return out


def _apply_defaults(value: Any, node: dict[str, Any]) -> None:
    """In place, as the API server does before validating: drop non-nullable nulls, fill defaults."""
    if isinstance(value, dict):
        properties = node.get("properties", {})
        for name, sub in properties.items():
            if name in value and value[name] is None and sub.get("nullable") is not True:
                del value[name]
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        additional = node.get("additionalProperties")
        for name, child in value.items():
            sub = properties.get(name, additional if isinstance(additional, dict) else None)
            if sub is not None:
                _apply_defaults(child, sub)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _apply_defaults(item, node["items"])


@dataclass(frozen=True)
class StrictSchema:
    openapi: dict[str, Any]
    validator: Any

    def first_error(self, obj: dict[str, Any]) -> ValidationError | None:
        instance = copy.deepcopy(obj)
        _apply_defaults(instance, self.openapi)
        return best_match(self.validator.iter_errors(instance))


def compile_schema(openapi: dict[str, Any]) -> StrictSchema:
    root = _convert(openapi, "prune")
    root.setdefault("properties", {}).update(
        {"apiVersion": _STRING, "kind": _STRING, "metadata": _ROOT_METADATA}
    )
    root["required"] = sorted({*root.get("required", []), "apiVersion", "kind", "metadata"})
    return StrictSchema(openapi=openapi, validator=_Validator(root))


_COMMON_METADATA_VALIDATOR = _Validator({"properties": {"metadata": COMMON_METADATA}})
# A built-in object's own name: a DNS-1123 subdomain, or a label for the kinds that become DNS names.
_NAME_VALIDATOR = _Validator({"properties": {"metadata": {"required": ["name"], "properties": {"name": _ROOT_METADATA["properties"]["name"]}}}})
_DNS_LABEL_NAME_VALIDATOR = _Validator({"properties": {"metadata": {"properties": {"name": {**_NAMESPACE, "x-rule": "is not an RFC 1123 label (a Service or Namespace name becomes a DNS label)"}}}}})
_DNS_LABEL_KINDS = frozenset({"Namespace", "Service"})
# RBAC objects are named by path segments (system:controller:x is fine): no '/', no '%', not '.' or '..'.
_PATH_SEGMENT_NAME_VALIDATOR = _Validator(
    {"properties": {"metadata": {"required": ["name"], "properties": {"name": {"type": "string", "pattern": r"^(?!\.{1,2}$)[^/%]+$", "x-rule": "is not a path segment name (no '/' or '%', not '.' or '..')"}}}}}
)
_PATH_SEGMENT_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def common_metadata_error(obj: dict[str, Any]) -> ValidationError | None:
    return best_match(_COMMON_METADATA_VALIDATOR.iter_errors(obj))


def builtin_name_error(obj: dict[str, Any]) -> ValidationError | None:
    """What kubernetes-validate leaves out of a built-in object's name: its syntax and length."""
    kind = obj.get("kind")
    if kind in _PATH_SEGMENT_KINDS:
        return best_match(_PATH_SEGMENT_NAME_VALIDATOR.iter_errors(obj))
    validator = _DNS_LABEL_NAME_VALIDATOR if kind in _DNS_LABEL_KINDS else _NAME_VALIDATOR
    return best_match(_NAME_VALIDATOR.iter_errors(obj)) or best_match(validator.iter_errors(obj))


def json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _clip(text: str, limit: int = 240) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe(error: ValidationError) -> str:
    """`<json path>: <problem>` on one line."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        unknown = sorted(key for key in error.instance if key not in known)
        path.append(unknown[0])
        problem = "unknown field" + (f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else "")
    elif error.validator == "pattern" and "x-rule" in error.schema:
        problem = f"{error.instance!r} {error.schema['x-rule']}"
    else:
        problem = error.message
    return f"{json_path(path)}: {_clip(problem)}"
