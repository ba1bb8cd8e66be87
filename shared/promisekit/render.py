"""Rendering that no input can break (design §5).

Every `{{ expression }}` becomes one JSON scalar (or JSON flow collection), so a request value
can never add a key, a document or a line to the output; undefined names are errors.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from promisekit.yamlio import load_all


# Characters YAML reads as line breaks or refuses outright; everything else stays readable.
_YAML_UNSAFE_RANGES = "[^\\x20-\\x7e\\xa0-\\u2027\\u202a-\\ud7ff\\ue000-\\ufefe\\uff00-\\ufffd\\U00010000-\\U0010ffff]"


@lru_cache(maxsize=1)
def _yaml_unsafe() -> re.Pattern[str]:
    # Compiled on first non-ASCII value only: the wide class costs a tenth of a cold start.
    return re.compile(_YAML_UNSAFE_RANGES)


def _as_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    if text.isascii():
        # json.dumps escapes every ASCII control character but DEL.
        return text.replace("\x7f", "\\u007f")
    return _yaml_unsafe().sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# Compiled templates survive between runs here: compiling them is most of a cold start's work.
# The image ships this directory filled in and read-only; a source change misses it by checksum.
CACHE_DIR = Path(os.environ.get("PROMISEKIT_TEMPLATE_CACHE") or Path(__file__).resolve().parents[2] / "build" / "template-cache")


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """A bytecode cache that is only read where it cannot be written (the image's read-only root)."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


@lru_cache(maxsize=None)
def _environment(template_dir: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        bytecode_cache=_TemplateCache(str(CACHE_DIR)),
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


def warm_cache(*template_dirs: Path) -> int:
    """Compile every template into the cache (the image build does this); returns how many."""
    count = 0
    for directory in template_dirs:
        environment = _environment(str(directory))
        for name in environment.list_templates():
            environment.get_template(name)
            count += 1
    return count
