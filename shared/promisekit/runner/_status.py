"""Status the way Kratix's status-writer and controllers write it (kratix.md §2.6).

Kratix merges conditions through a Go map, so their order is arbitrary; here they are
sorted by type, so the same run always records the same status.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Mapping

CONFIGURE_COMPLETED = "ConfigureWorkflowCompleted"
DELETE_COMPLETED = "DeleteWorkflowCompleted"
WORKS_SUCCEEDED = "WorksSucceeded"
RECONCILED = "Reconciled"
AVAILABLE = "Available"


def timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def merge(existing: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys overwrite (no deep merge); `conditions` lists merge by type."""
    merged = copy.deepcopy(dict(existing))
    for key, value in incoming.items():
        if key == "conditions" and isinstance(merged.get(key), list) and isinstance(value, list):
            merged[key] = _merged_conditions(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merged_conditions(existing: list[Any], incoming: list[Any]) -> list[Any]:
    by_type: dict[str, Any] = {}
    for condition in [*existing, *incoming]:
        if isinstance(condition, dict) and isinstance(condition.get("type"), str):
            by_type[condition["type"]] = condition
    return [by_type[key] for key in sorted(by_type)]


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The condition of that type; a missing one reads as Unknown, never as None."""
    for entry in status.get("conditions") or []:
        if isinstance(entry, dict) and entry.get("type") == type_:
            return entry
    return {"type": type_, "status": "Unknown", "reason": "", "message": ""}


def set_condition(status: dict[str, Any], type_: str, state: str, reason: str, message: str, now: float) -> None:
    """Set one condition with all five fields; its transition time moves only when its status does."""
    previous = condition(status, type_)
    since = previous.get("lastTransitionTime") if previous.get("status") == state else None
    entry = {
        "lastTransitionTime": since or timestamp(now),
        "message": message,
        "reason": reason,
        "status": state,
        "type": type_,
    }
    others = [c for c in status.get("conditions") or [] if not (isinstance(c, dict) and c.get("type") == type_)]
    status["conditions"] = sorted([*others, entry], key=lambda c: str(c.get("type", "")) if isinstance(c, dict) else "")


def mark_in_progress(status: dict[str, Any], now: float) -> None:
    set_condition(status, CONFIGURE_COMPLETED, "False", "PipelinesInProgress", "Pipelines are still in progress", now)


def mark_completed(status: dict[str, Any], completed_message: str, now: float) -> None:
    """The last pipeline's status-writer: 'Pending' becomes the completed message."""
    if status.get("message") == "Pending":
        status["message"] = completed_message
    set_condition(status, CONFIGURE_COMPLETED, "True", "PipelinesExecutedSuccessfully", "Pipelines completed", now)


def mark_failed(status: dict[str, Any], pipeline: str, detail: str, now: float) -> None:
    # Kratix stops at the pipeline's name; with no pod logs to chase, the runner adds why.
    set_condition(status, CONFIGURE_COMPLETED, "False", "ConfigureWorkflowFailed", f"A Configure Pipeline has failed: {pipeline}: {detail}", now)


def mark_works(status: dict[str, Any], pending: list[str], misplaced: list[str], now: float) -> None:
    """WorksSucceeded from the Works' scheduling, as the resource controller derives it."""
    if pending:
        set_condition(status, WORKS_SUCCEEDED, "Unknown", "WorksPending", f"Some works associated with this resource are not ready: [{', '.join(pending)}]", now)
    elif misplaced:
        set_condition(status, WORKS_SUCCEEDED, "False", "WorksMisplaced", f"Some works associated with this resource are misplaced: [{', '.join(misplaced)}]", now)
    else:
        set_condition(status, WORKS_SUCCEEDED, "True", "WorksSucceeded", "All works associated with this resource are ready", now)


def mark_reconciled(status: dict[str, Any], now: float, *, suspended: bool = False) -> None:
    """Reconciled from the other conditions, in the order Kratix checks them."""
    configure = condition(status, CONFIGURE_COMPLETED)
    works = condition(status, WORKS_SUCCEEDED)
    if suspended:
        set_condition(status, RECONCILED, "Unknown", "WorkflowSuspended", "Suspended", now)
    elif configure["status"] == "False" and configure.get("reason") == "PipelinesInProgress":
        set_condition(status, RECONCILED, "Unknown", "WorkflowPending", "Pending", now)
    elif configure["status"] == "False":
        set_condition(status, RECONCILED, "False", "ConfigureWorkflowFailed", "Failing", now)
    elif works["status"] == "Unknown":
        set_condition(status, RECONCILED, "Unknown", "WorksPending", "Pending", now)
    elif works["status"] == "False":
        set_condition(status, RECONCILED, "False", "WorksFailing", "Failing", now)
    elif configure["status"] == "True":
        set_condition(status, RECONCILED, "True", "Reconciled", "Reconciled", now)
