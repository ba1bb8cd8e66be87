"""Platform settings: one file the platform team edits, baked into each promise.yaml."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from promisekit import schema
from promisekit.errors import RequestInvalid, SettingsInvalid
from promisekit.yamlio import load_one

ENV_VAR = "PLATFORM_SETTINGS"
SETTINGS_FILE = schema.REPO_ROOT / "promises" / "platform-settings.yaml"


@lru_cache(maxsize=None)
def _settings_schema() -> dict[str, Any]:
    return load_one((schema.SCHEMAS_DIR / "platform-settings" / "schema.yaml").read_text(encoding="utf-8"))


def check(settings: Any) -> dict[str, Any]:
    """Validate settings against their schema; raise SettingsInvalid naming the setting."""
    try:
        schema.validate(_settings_schema(), settings, "settings")
    except RequestInvalid as err:
        raise SettingsInvalid(str(err)) from None
    return settings


def load_file(path: Path = SETTINGS_FILE) -> dict[str, Any]:
    try:
        data = load_one(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsInvalid(f"{path}: not found") from None
    return check(data)


def from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings a pipeline container was given in PLATFORM_SETTINGS (JSON)."""
    env = os.environ if env is None else env
    raw = env.get(ENV_VAR)
    if not raw:
        raise SettingsInvalid(f"{ENV_VAR}: not set (make promises writes it into every pipeline container)")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise SettingsInvalid(f"{ENV_VAR}: not JSON ({err.msg} at character {err.pos})") from None
    return check(data)


def to_env_value(settings: Mapping[str, Any]) -> str:
    """The compact, key-sorted JSON form: stable bytes, so promise.yaml only changes with the settings."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))
