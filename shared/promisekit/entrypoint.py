"""Do the file I/O of the Kratix contract and dispatch on the workflow type and action."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Mapping

from promisekit import contract, settings
from promisekit.errors import ContractError, PromiseKitError
from promisekit.promise import Definition, parse_request

USAGE = "usage: python -m promisekit <promise>   (the workflow comes from KRATIX_WORKFLOW_TYPE/ACTION)"
EXIT_INVALID = 1
EXIT_USAGE = 2


def load_definition(promise: str) -> Definition:
    """The PROMISE object of pipelines/<promise>."""
    if not promise.replace("_", "").isalnum():
        raise ContractError(f"promise {promise!r}: not a pipeline package name")
    try:
        module = importlib.import_module(f"pipelines.{promise}")
    except ModuleNotFoundError:
        raise ContractError(f"promise {promise!r}: no package pipelines/{promise}") from None
    return module.PROMISE


def run(definition: Definition, workflow: contract.Workflow, paths: contract.Paths, env: Mapping[str, str]) -> contract.Result:
    platform = settings.from_env(env)
    obj = contract.read_object(paths)
    if workflow.type == "promise":
        if workflow.action == "delete" or definition.configure_promise is None:
            return contract.Result(status={"message": f"{definition.name}: nothing to {workflow.action}"})
        return definition.configure_promise(platform)
    if workflow.action == "configure":
        return definition.configure(parse_request(definition, obj), platform)
    return definition.delete(parse_request(definition, obj, strict=False), platform)


def main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    paths = contract.Paths.from_env(env)
    try:
        workflow = contract.Workflow.from_env(env)
        definition = load_definition(argv[0])
        result = run(definition, workflow, paths, env)
        contract.write_result(paths, result, with_output=workflow.action == "configure")
    except PromiseKitError as err:
        message = str(err)
        print(f"error: {message}", file=sys.stderr)
        contract.write_failure(paths, message)
        return EXIT_INVALID
    except Exception as err:  # a bug, not a bad request: still one status line, and the traceback in the pod's log
        message = f"internal error in the {argv[0]} pipeline: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
        print(f"error: {message}", file=sys.stderr)
        import traceback  # only on this path: the hot path stays lean

        traceback.print_exc(file=sys.stderr)
        contract.write_failure(paths, message)
        return EXIT_INVALID
    return 0
