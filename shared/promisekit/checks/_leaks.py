"""Credentials in rendered output: it lands in a git state store, so it may only reference secrets."""

from __future__ import annotations

import re
from typing import Any, Iterator

from promisekit.checks._manifest import label_of
from promisekit.checks._strict import json_path

# A name part that is, or ends with, one of these makes a name secret-like (PGPASSWORD, clientSecret).
_SECRET_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS")
# "KEY" alone names a key inside a Secret (secretKeyRef.key, ESO secretKey); these pairs are the secret.
_SECRET_KEY_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("APIKEY",), ("PRIVATEKEY",)})
# A last part like these means the value points at a secret (a file, a name, an endpoint), not holds it.
_ENV_POINTER_PARTS = frozenset({"FILE", "PATH", "DIR", "NAME", "REF", "URL", "URI", "ENDPOINT", "LENGTH", "TTL"})
# Words that, before a trailing "Secret", make the key the name of a Secret object (tlsSecret).
_SECRET_OBJECT_PREFIXES = frozenset({"EXISTING", "TLS", "CA", "CERT", "CERTIFICATE", "PULL"})

_NAME_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# $(VAR) env expansion, ${VAR} substitution and {{ ... }} templates stand for a value held elsewhere.
_REFERENCE = re.compile(r"\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[^}]+\}|\{\{.*?\}\}")
# scheme://user:password@host with a literal (non-reference) password.
_CREDENTIAL_URI = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


def _parts(name: str) -> list[str]:
    return [part.upper() for part in _NAME_PARTS.split(name) if part]


def _is_secret_pair(parts: list[str]) -> bool:
    return tuple(parts[-2:]) in _SECRET_KEY_PAIRS or tuple(parts[-1:]) in _SECRET_KEY_PAIRS


def _secret_env_name(name: str) -> bool:
    """Env names: a secret word in any part (DB_PASSWORD, AWS_SECRET_ACCESS_KEY), unless it ends in a pointer."""
    parts = _parts(name)
    if not parts:
        return False
    if _is_secret_pair(parts):
        return True
    return parts[-1] not in _ENV_POINTER_PARTS and any(part.endswith(_SECRET_WORDS) for part in parts)


def _secret_key_name(key: str) -> bool:
    """Mapping keys: only the last part counts, so password_encryption or tokenTTL are not secrets."""
    parts = _parts(key)
    if not parts or parts[0] == "EXISTING":
        return False
    if _is_secret_pair(parts):
        return True
    if parts[-1] in ("SECRET", "SECRETS") and len(parts) > 1 and parts[-2] in _SECRET_OBJECT_PREFIXES:
        return False
    return parts[-1].endswith(_SECRET_WORDS)


def _literal(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != "" and not _REFERENCE.search(value)


def _string_leaks(text: str) -> Iterator[str]:
    for match in _CREDENTIAL_URI.finditer(text):
        if not _REFERENCE.fullmatch(match.group(1)):
            yield "URI carries a literal password (scheme://user:password@host)"
            break
    if _PEM_PRIVATE_KEY.search(text):
        yield "PEM private key block"


def _walk(value: Any, path: list[Any], parent_key: str | None) -> Iterator[tuple[list[Any], str]]:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(key, str) and _secret_key_name(key) and _literal(child):
                yield [*path, key], f"key {key!r} holds a literal value; reference a Secret instead"
            yield from _walk(child, [*path, key], key if isinstance(key, str) else None)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            # A container env var: {name, value} inside a list called env.
            if parent_key == "env" and isinstance(item, dict) and isinstance(item.get("name"), str):
                if _secret_env_name(item["name"]) and _literal(item.get("value")):
                    yield [*path, index, "value"], f"env var {item['name']} has a literal value; use valueFrom.secretKeyRef"
            yield from _walk(item, [*path, index], None)
    elif isinstance(value, str):
        for why in _string_leaks(value):
            yield path, why


def _object_leaks(obj: dict[str, Any]) -> Iterator[tuple[list[Any], str]]:
    if obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if obj.get(field):
                yield [field], "a Secret with literal contents; render an ExternalSecret or a generator instead"
        # Its contents are reported once above; only scan the rest of the Secret.
        obj = {key: child for key, child in obj.items() if key not in ("data", "stringData")}
    yield from _walk(obj, [], None)


def find_secret_leaks(objects: list[dict[str, Any]], texts: list[str] | None = None) -> list[str]:
    """'<Kind>/<name>: <path>: <why>' for each credential found in the objects, and
    'text[<i>]: line <n>: <why>' for the raw texts (URIs with passwords, PEM private keys)."""
    leaks = []
    for obj in objects:
        leaks.extend(f"{label_of(obj)}: {json_path(path)}: {why}" for path, why in _object_leaks(obj))
    for index, text in enumerate(texts or []):
        for number, line in enumerate(text.splitlines(), start=1):
            leaks.extend(f"text[{index}]: line {number}: {why}" for why in _string_leaks(line))
    return leaks
