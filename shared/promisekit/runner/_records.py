"""What the runner records about each object: the Kratix object itself, plus where its workflow
stands and the Works it produced (Kratix keeps those as Work and WorkPlacement objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from promisekit.runner import _status as status_of
from promisekit.runner._admission import PROMISE_KIND, Api, registered_api
from promisekit.runner._scheduler import Scheduling, Work, describe_selector, squash
from promisekit.runner._workflow import Pipeline, Subject


@dataclass
class WorkflowState:
    """Where an object's configure workflow stands, pipeline by pipeline."""

    phases: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    # Index of the pipeline that suspended or asked for a retry; it runs again on resume.
    stopped_at: int | None = None
    retry_at: float | None = None
    failure: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"phases": self.phases, "messages": self.messages, "stoppedAt": self.stopped_at, "retryAt": self.retry_at, "failure": self.failure}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> WorkflowState:
        return cls(dict(data["phases"]), dict(data["messages"]), data["stoppedAt"], data["retryAt"], data["failure"])

    @property
    def suspended(self) -> bool:
        return self.stopped_at is not None and self.retry_at is None


@dataclass(frozen=True)
class Outcome:
    """What one document did, in kubectl's words; `error` is set when the command must fail."""

    ref: str
    action: str
    note: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def line(self) -> str:
        return f"{self.ref} {self.action}" + (f" ({self.note})" if self.note else "")


@dataclass
class PromiseState:
    """An installed Promise: its manifest, status and promise-level Works."""

    manifest: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)
    available: bool = False
    workflow: WorkflowState = field(default_factory=WorkflowState)
    works: dict[str, Work] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def record(self) -> str:
        return f"promises/{self.name}.json"

    @cached_property
    def api(self) -> Api | None:
        return registered_api(self.manifest)

    def pipelines(self, workflow_type: str, action: str) -> list[tuple[Pipeline, dict[str, Any]]]:
        manifests = ((self.manifest["spec"].get("workflows") or {}).get(workflow_type) or {}).get(action) or []
        return [(Pipeline.from_manifest(m), m) for m in manifests]

    def promise_scheduling(self) -> list[Scheduling]:
        """The Promise's own destinationSelectors, which win over any workflow's."""
        selectors = squash(s.get("matchLabels") or {} for s in self.manifest["spec"].get("destinationSelectors") or [])
        return [Scheduling("promise", selectors)] if selectors else []

    def inherited_scheduling(self) -> list[Scheduling]:
        """What a request's root group inherits: the promise workflows' root selectors, then the Promise's."""
        from_workflows = squash(
            s.match_labels
            for w in self.works.values()
            for g in w.groups
            if g.directory == "."
            for s in g.scheduling
            if s.source == "promise-workflow"
        )
        inherited = [Scheduling("promise-workflow", from_workflows)] if from_workflows else []
        return inherited + self.promise_scheduling()

    def subject(self) -> Subject:
        return Subject("promise", self.name, PROMISE_KIND, "platform.kratix.io", "v1alpha1", self.name, "", "promises")

    def to_record(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest,
            "status": self.status,
            "available": self.available,
            "workflow": self.workflow.to_record(),
            "works": {key: w.to_record() for key, w in self.works.items()},
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> PromiseState:
        works = {key: Work.from_record(w) for key, w in data["works"].items()}
        return cls(data["manifest"], data["status"], data["available"], WorkflowState.from_record(data["workflow"]), works)


@dataclass
class RequestState:
    """A stored resource request: the object with its status, and its Works."""

    promise: str
    obj: dict[str, Any]
    workflow: WorkflowState = field(default_factory=WorkflowState)
    works: dict[str, Work] = field(default_factory=dict)
    # Its delete pipeline failed or suspended: the request stays, as behind a finalizer.
    deleting: bool = False

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"]["namespace"])

    @property
    def status(self) -> dict[str, Any]:
        return self.obj.setdefault("status", {})  # type: ignore[no-any-return]

    @property
    def record(self) -> str:
        return request_record(self.promise, self.namespace, self.name)

    def to_record(self) -> dict[str, Any]:
        return {
            "promise": self.promise,
            "object": self.obj,
            "workflow": self.workflow.to_record(),
            "works": {key: w.to_record() for key, w in self.works.items()},
            "deleting": self.deleting,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> RequestState:
        works = {key: Work.from_record(w) for key, w in data["works"].items()}
        return cls(data["promise"], data["object"], WorkflowState.from_record(data["workflow"]), works, data["deleting"])


@dataclass(frozen=True)
class RequestView:
    """One request as `get` and `describe` show it."""

    api: Api
    request: RequestState

    @property
    def message(self) -> str:
        return str(self.request.status.get("message", ""))

    @property
    def reconciled(self) -> str:
        return str(status_of.condition(self.request.status, status_of.RECONCILED).get("message") or "")

    def files(self) -> dict[str, list[str]]:
        """Destination name -> every file the request placed there, relative to the state store."""
        placed: dict[str, list[str]] = {}
        for work in self.request.works.values():
            for group in work.groups:
                for destination, directory in group.placements.items():
                    placed.setdefault(destination, []).extend(f"{directory}/{path}" for path in sorted(group.files))
        return {name: sorted(paths) for name, paths in sorted(placed.items())}

    def pending(self) -> list[str]:
        return [f"{w.name}: no Destination matches {describe_selector(g.selector())}" for w in self.request.works.values() for g in w.pending()]


def request_record(promise: str, namespace: str, name: str) -> str:
    return f"requests/{promise}/{namespace}/{name}.json"
