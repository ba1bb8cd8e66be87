"""The runner's exceptions: each one is a single line a user reads after `error: `."""

from __future__ import annotations

from promisekit.errors import PromiseKitError


class RunnerError(PromiseKitError):
    """Base of every error the runner raises on purpose."""


class Rejected(RunnerError):
    """The API server would refuse the object: unknown kind, invalid field, immutable change."""


class NotFound(RunnerError):
    """The object named does not exist."""


class EngineUnavailable(RunnerError):
    """The chosen engine cannot run here (no docker, a container the engine cannot start)."""
