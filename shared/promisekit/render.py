"""Rendering that no input can break (design §5).

Every `{{ expression }}` becomes one JSON scalar (or JSON flow collection), so a request value
can never add a key, a document or a line to the output; undefined names are errors.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from promisekit.yamlio import load_all


# Characters YAML reads as line breaks or refuses outright; everything else stays readable.
_YAML_UNSAFE = re.compile("[^\\x20-\\x7e\\xa0-\\u2027\\u202a-\\ud7ff\\ue000-\\ufefe\\uff00-\\ufffd\\U00010000-\\U0010ffff]")


def _as_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@lru_cache(maxsize=None)
def _environment(template_dir: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        finalize=_as_json,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_objects(template_dir: Path, template: str, **context: Any) -> list[dict[str, Any]]:
    """Render one template and parse it back into the objects it describes."""
    text = _environment(str(template_dir)).get_template(template).render(**context)
    objects = load_all(text)
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj:
            raise ValueError(f"{template}: rendered a document that is not an object")
    return objects
