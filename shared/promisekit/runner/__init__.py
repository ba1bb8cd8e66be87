"""The local platform runner: the whole Kratix flow, Promise install to state store, on a laptop.

No cluster and no Docker: pipelines run through their real entrypoint (`--engine
subprocess`, the default), in this process (`inprocess`), or as the built image (`docker`).
It is a harness for authoring, demos and tests; production stays Kratix and Flux.
docs/runner.md lists every place where it differs from Kratix.
"""

from promisekit.runner._destinations import Destination, load_file
from promisekit.runner._documents import Document, read_documents
from promisekit.runner._engine import ENGINE_NAMES, Container, ContainerExit, Engine, make_engine
from promisekit.runner._errors import EngineUnavailable, NotFound, Rejected, RunnerError
from promisekit.runner._records import Outcome, PromiseState, RequestState, RequestView, WorkflowState
from promisekit.runner._runner import DEFAULT_DESTINATIONS, DEFAULT_STATE, Runner
from promisekit.runner._store import records_dir

__all__ = [
    "DEFAULT_DESTINATIONS",
    "DEFAULT_STATE",
    "ENGINE_NAMES",
    "Container",
    "ContainerExit",
    "Destination",
    "Document",
    "Engine",
    "EngineUnavailable",
    "NotFound",
    "Outcome",
    "PromiseState",
    "Rejected",
    "RequestState",
    "RequestView",
    "Runner",
    "RunnerError",
    "WorkflowState",
    "load_file",
    "make_engine",
    "read_documents",
    "records_dir",
]
