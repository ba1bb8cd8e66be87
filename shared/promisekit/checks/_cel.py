"""CRD `x-kubernetes-validations` rules, evaluated with cel-python the way the API server does on create."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator

import celpy

# Transition rules compare with the stored object; a manifest is always a create, so they never run.
_OLD_SELF = re.compile(r"\boldSelf\b")
_INT64 = range(-(2**63), 2**63)


class CelUnsupported(Exception):
    """cel-python cannot compile a rule: the check must fail loudly rather than pass."""


@lru_cache(maxsize=None)
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    try:
        return env.program(env.compile(rule))
    except celpy.CELParseError as error:
        raise CelUnsupported(f"cel-python cannot compile CEL rule {rule!r}: {str(error).splitlines()[0]}") from error


def rule_failures(rules: list[dict[str, Any]], value: Any) -> Iterator[str]:
    """One message per rule that `value` (bound to `self`) breaks, or that cannot be evaluated."""
    for entry in rules:
        rule = entry["rule"]
        if _OLD_SELF.search(rule):
            continue
        try:
            result = _program(rule).evaluate({"self": celpy.json_to_cel(_as_decoded(value))})
            if isinstance(result, celpy.CELEvalError):
                # cel-python may hand an error back as the value instead of raising it.
                raise result
        except CelUnsupported as error:
            yield str(error)
            continue
        except (celpy.CELEvalError, TypeError, ValueError, AttributeError, KeyError, IndexError) as error:
            # The API server also rejects an object when a rule errors ("no such key", or a value of
            # the wrong type, on which cel-python raises Python's own errors).
            reason = error.args[0] if error.args else type(error).__name__
            yield f"{entry.get('message') or 'rule failed'} (CEL rule {rule!r} could not be evaluated: {reason})"
            continue
        if not isinstance(result, celpy.celtypes.BoolType):
            yield f"CEL rule {rule!r} returned {type(result).__name__}, not a bool"
        elif not result:
            yield entry.get("message") or f"failed rule: {rule}"


def _as_decoded(value: Any) -> Any:
    """The value as the API server's JSON decoder holds it: an integer beyond int64 becomes a float."""
    if isinstance(value, dict):
        return {key: _as_decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_decoded(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value
