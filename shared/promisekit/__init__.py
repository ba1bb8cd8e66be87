"""promisekit: the small library every pipeline stands on.

The public facade is the names below; modules with a leading underscore are private.
"""

from promisekit.contract import Paths, Result, Selector, Workflow, WorkflowControl
from promisekit.errors import ContractError, PromiseKitError, RequestInvalid, SettingsInvalid
from promisekit.promise import Definition, Pipeline, Request, condition, parse_request

__all__ = [
    "ContractError",
    "Definition",
    "Paths",
    "Pipeline",
    "PromiseKitError",
    "Request",
    "RequestInvalid",
    "Result",
    "Selector",
    "SettingsInvalid",
    "Workflow",
    "WorkflowControl",
    "condition",
    "parse_request",
]
