"""The local platform: Promises, requests and Destinations reconciled as Kratix does (kratix.md §2).

Every public method is one "kubectl" call: it takes the store's lock, reads the records it
needs, runs pipelines through the engine, and commits what changed in one journaled swap.
Afterwards it plays Flux on the platform Destination: a Destination that landed there is
registered, as Kratix registers it once Flux has applied it.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterator, Mapping, Sequence

import yaml

from promisekit.runner import _status as status_of
from promisekit.runner._admission import PROMISE_RESOURCE, Api, admit_promise, admit_request, is_promise
from promisekit.runner._destinations import Destination, canary_files, is_destination, load_file, parse_destination
from promisekit.runner._documents import Document
from promisekit.runner._engine import REPO_ROOT, Engine, make_engine
from promisekit.runner._errors import NotFound, Rejected, RunnerError
from promisekit.runner._records import Outcome, PromiseState, RequestState, RequestView, request_record
from promisekit.runner._scheduler import Work, WorkloadGroup, build_groups, describe_selector, place, work_name
from promisekit.runner._store import Store, Transaction
from promisekit.runner._workflow import Pipeline, PipelineRun, Subject, run_pipeline
from promisekit.yamlio import dump_documents, load_all

DEFAULT_STATE = REPO_ROOT / "build" / "state-store"
DEFAULT_DESTINATIONS = REPO_ROOT / "examples" / "platform" / "destinations.yaml"
SUSPENDED_LABEL = "kratix.io/workflow-suspended"
DESTINATION_RESOURCE = "destinations.platform.kratix.io"
# The keys of PromiseStatus a promise workflow may set; the API server prunes the rest.
PROMISE_WORKFLOW_STATUS_KEYS = ("message",)
Progress = Callable[[str], None]


@dataclass
class _Job:
    """A request whose configure workflow is about to run from pipeline `start`."""

    request: RequestState
    promise: PromiseState
    start: int
    action: str
    slot: int


@dataclass
class _Run:
    """What a configure workflow did; at most one of failed and stopped is set."""

    status: dict[str, Any]
    completed: dict[int, PipelineRun] = field(default_factory=dict)
    failed: tuple[int, PipelineRun] | None = None
    stopped: tuple[int, PipelineRun] | None = None


class Runner:
    """Kratix, Flux and a state store on one laptop, for authoring, demos and tests."""

    def __init__(
        self,
        state: Path = DEFAULT_STATE,
        *,
        destinations_file: Path | None = DEFAULT_DESTINATIONS,
        engine: str | Engine = "subprocess",
        python_path: Sequence[Path] = (),
        clock: Callable[[], float] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = Store(state)
        self.destinations_file = destinations_file
        self.engine = make_engine(engine, python_path=python_path) if isinstance(engine, str) else engine
        self.clock = clock or _default_clock
        self.progress = progress or (lambda message: None)

    # ---- kubectl verbs -------------------------------------------------------------------

    def apply(self, documents: Sequence[Document]) -> list[Outcome]:
        """Promises install, Destinations register, requests reconcile; in document order."""
        with self._cluster() as cluster:
            return cluster.apply(documents)

    def install(self, documents: Sequence[Document]) -> list[Outcome]:
        for document in documents:
            if not is_promise(document.obj):
                raise RunnerError(f"{document.source}: a {document.kind} is not a Promise; use apply")
        return self.apply(documents)

    def delete(self, documents: Sequence[Document]) -> list[Outcome]:
        with self._cluster() as cluster:
            return [cluster.delete(document) for document in documents]

    def reconcile(self, kind: str | None = None, name: str | None = None, namespace: str = "default") -> list[Outcome]:
        """With a name: a manual reconciliation, from the first pipeline. Without: every due retryAfter."""
        with self._cluster() as cluster:
            return cluster.reconcile(kind, name, namespace)

    def resume(self, kind: str, name: str, namespace: str = "default") -> list[Outcome]:
        """Remove the suspended label: the workflow continues from the pipeline that suspended."""
        with self._cluster() as cluster:
            return cluster.resume(kind, name, namespace)

    def get(self, kind: str | None = None, name: str | None = None, namespace: str | None = None) -> list[RequestView]:
        with self._cluster(mutating=False) as cluster:
            return cluster.views(kind, name, namespace)

    def promises(self) -> list[PromiseState]:
        with self._cluster(mutating=False) as cluster:
            return cluster.all_promises()

    def destinations(self) -> list[Destination]:
        with self._cluster(mutating=False) as cluster:
            return list(cluster.destinations)

    @contextlib.contextmanager
    def _cluster(self, *, mutating: bool = True) -> Iterator[_Cluster]:
        static = load_file(self.destinations_file) if self.destinations_file else []
        with self.store.session() as store:
            cluster = _Cluster(store, static, self.engine, self.clock, self.progress)
            if mutating:
                cluster.sync_destinations()
            yield cluster
            if mutating:
                cluster.sync_destinations()


class _Cluster:
    """One session's view of the platform: records are read on demand and cached."""

    def __init__(self, store: Store, static: list[Destination], engine: Engine, clock: Callable[[], float], progress: Progress) -> None:
        self.store = store
        self.static = static
        self.engine = engine
        self.clock = clock
        self.progress = progress
        self._promises: dict[str, PromiseState | None] = {}
        self._destinations: list[Destination] | None = None

    # ---- records -------------------------------------------------------------------------

    @property
    def destinations(self) -> list[Destination]:
        """The file's Destinations, then those registered by apply or by Flux (read once per change)."""
        if self._destinations is None:
            registered = [parse_destination(r["manifest"], r["source"]) for r in map(self.store.read, self.store.list("destinations"))]
            static_names = {d.name for d in self.static}
            self._destinations = sorted([*self.static, *(d for d in registered if d.name not in static_names)], key=lambda d: d.name)
        return self._destinations

    def _commit_destinations(self, tx: Transaction) -> None:
        tx.commit()
        self._destinations = None

    def promise(self, name: str) -> PromiseState | None:
        if name not in self._promises:
            data = self.store.read(f"promises/{name}.json")
            self._promises[name] = PromiseState.from_record(data) if data else None
        return self._promises[name]

    def all_promises(self) -> list[PromiseState]:
        names = [Path(p).stem for p in self.store.list("promises")]
        return [p for p in map(self.promise, names) if p is not None]

    def requests_of(self, promise: str) -> list[RequestState]:
        return [RequestState.from_record(self.store.read(p)) for p in self.store.list(f"requests/{promise}")]

    def request(self, promise: str, namespace: str, name: str) -> RequestState | None:
        data = self.store.read(request_record(promise, namespace, name))
        return RequestState.from_record(data) if data else None

    def api_for(self, group: str, kind: str) -> tuple[Api, PromiseState]:
        for promise in self.all_promises():
            api = promise.api
            if api is not None and api.group == group and api.kind == kind:
                return api, promise
        raise Rejected(f'the server doesn\'t have a resource type "{kind}"')

    def api_named(self, text: str) -> tuple[Api, PromiseState]:
        for promise in self.all_promises():
            if promise.api is not None and promise.api.answers_to(text):
                return promise.api, promise
        raise Rejected(f'the server doesn\'t have a resource type "{text}"')

    def save_promise(self, promise: PromiseState) -> None:
        self._promises[promise.name] = promise

    # ---- apply ---------------------------------------------------------------------------

    def apply(self, documents: Sequence[Document]) -> list[Outcome]:
        outcomes: list[Outcome | None] = []
        batch: list[_Job] = []
        for document in documents:
            outcomes.append(None)
            identity = (document.group, document.kind, document.namespace, document.name)
            try:
                # A Promise or Destination changes what later requests see; so does an earlier
                # document for the same request: run what is batched first.
                if is_promise(document.obj) or is_destination(document.obj) or identity in {_identity(j) for j in batch}:
                    self._run_jobs(batch, outcomes)
                    batch = []
                if is_promise(document.obj) or is_destination(document.obj):
                    if is_promise(document.obj):
                        outcomes[-1:] = self._install(document)
                    else:
                        outcomes[-1] = self._register(document)
                    continue
                job = self._prepare(document, len(outcomes) - 1)
                if isinstance(job, Outcome):
                    outcomes[-1] = job
                else:
                    batch.append(job)
            except RunnerError as err:
                outcomes[-1] = Outcome(_document_ref(document), "rejected", error=str(err))
        self._run_jobs(batch, outcomes)
        return [o for o in outcomes if o is not None]

    def _prepare(self, document: Document, slot: int) -> _Job | Outcome:
        api, promise = self.api_for(document.group, document.kind)
        admitted = admit_request(api, document.obj)
        metadata = admitted["metadata"]
        existing = self.request(promise.name, metadata["namespace"], metadata["name"])
        ref = api.ref(metadata["name"])
        now = self.clock()
        if existing is None:
            metadata["generation"] = 1
            metadata["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{api.resource}/{metadata['namespace']}/{metadata['name']}"))
            metadata["creationTimestamp"] = status_of.timestamp(now)
            request = RequestState(promise.name, {**admitted, "status": {"message": "Pending"}})
            action = "created"
        else:
            if existing.deleting:
                raise Rejected(f"{api.quoted(existing.name)} is being deleted: its delete pipeline has not completed")
            request = existing
            spec_changed = _content(admitted) != _content(existing.obj)
            labels = dict(metadata.get("labels") or {})
            if existing.workflow.suspended and not spec_changed:
                labels[SUSPENDED_LABEL] = "true"
            metadata_changed = labels != (existing.obj["metadata"].get("labels") or {}) or metadata.get("annotations") != existing.obj["metadata"].get("annotations")
            if not spec_changed and not metadata_changed:
                return Outcome(ref, "unchanged")
            for key in ("labels", "annotations"):
                existing.obj["metadata"].pop(key, None)
            if labels:
                existing.obj["metadata"]["labels"] = labels
            if metadata.get("annotations"):
                existing.obj["metadata"]["annotations"] = metadata["annotations"]
            action = "configured"
            if not spec_changed:
                # Kratix re-runs pipelines only when the spec changes (the request's hash).
                self._commit_request(request, [], [])
                return Outcome(ref, action)
            for key in [k for k in existing.obj if k not in ("apiVersion", "kind", "metadata", "status")]:
                del existing.obj[key]
            existing.obj.update({k: v for k, v in admitted.items() if k not in ("apiVersion", "kind", "metadata")})
            existing.obj["apiVersion"] = admitted["apiVersion"]
            # A spec change, even while suspended, runs the workflow from its first pipeline.
            existing.obj["metadata"]["generation"] = int(existing.obj["metadata"].get("generation", 1)) + 1
        if not promise.available:
            self._commit_request(request, [], [])
            return Outcome(ref, action, note=f"waiting for promise {promise.name} to be available")
        return _Job(request, promise, 0, action, slot)

    def _run_jobs(self, jobs: list[_Job], outcomes: list[Outcome | None]) -> None:
        """Run independent requests at once where the engine allows; commit in document order."""
        if not jobs:
            return
        total = len(jobs)

        def run(numbered: tuple[int, _Job]) -> _Run:
            index, job = numbered
            label = f"[{index + 1}/{total}] " if total > 1 else ""
            return self._configure_request(job, label)

        if self.engine.parallel and total > 1:
            with ThreadPoolExecutor(max_workers=min(total, os.cpu_count() or 1)) as pool:
                runs = list(pool.map(run, enumerate(jobs)))
        else:
            runs = [run(numbered) for numbered in enumerate(jobs)]
        for job, result in zip(jobs, runs, strict=True):
            outcomes[job.slot] = self._finish_request(job, result)

    def _configure_request(self, job: _Job, label: str) -> _Run:
        request, promise = job.request, job.promise
        api = promise.api
        assert api is not None
        obj = copy.deepcopy(request.obj)
        status = obj.setdefault("status", {})
        now = self.clock()
        status_of.mark_in_progress(status, now)
        status_of.mark_reconciled(status, now)
        version = api.version_of(obj["apiVersion"])
        subject = Subject("resource", promise.name, api.kind, api.group, version, request.name, request.namespace, api.plural)
        return self._run_configure(promise.pipelines("resource", "configure"), obj, subject, job.start, f"{label}{api.kind} {request.namespace}/{request.name}")

    def _run_configure(
        self,
        pipelines: list[tuple[Pipeline, dict[str, Any]]],
        obj: dict[str, Any],
        subject: Subject,
        start: int,
        label: str,
        keep: Callable[[dict[str, Any]], dict[str, Any]] = lambda s: s,
    ) -> _Run:
        """Pipelines in order, each seeing the status the ones before it merged."""
        result = _Run(status=copy.deepcopy(obj.get("status") or {}))
        for index in range(start, len(pipelines)):
            pipeline, manifest = pipelines[index]
            began = time.monotonic()
            run = run_pipeline(self.engine, pipeline, manifest, {**obj, "status": result.status}, subject, "configure")
            took = time.monotonic() - began
            if run.error:
                self.progress(f"{label}: pipeline {pipeline.name} failed ({took:.2f}s): {run.error}")
                result.failed = (index, run)
                return result
            result.status = status_of.merge(result.status, keep(run.status))
            if run.control.stops:
                verb = f"asked to retry after {run.control.retry_after}" if run.control.retry_after else "suspended the workflow"
                self.progress(f"{label}: pipeline {pipeline.name} {verb} ({took:.2f}s)")
                result.stopped = (index, run)
                return result
            self.progress(f"{label}: pipeline {pipeline.name} done ({took:.2f}s)")
            result.completed[index] = run
        return result

    def _finish_request(self, job: _Job, result: _Run) -> Outcome:
        request, promise = job.request, job.promise
        api = promise.api
        assert api is not None
        now = self.clock()
        pipelines = promise.pipelines("resource", "configure")
        status = result.status
        workflow = request.workflow
        labels = request.obj["metadata"].setdefault("labels", {})
        labels.pop(SUSPENDED_LABEL, None)
        workflow.stopped_at, workflow.retry_at, workflow.failure = None, None, ""
        for index, (pipeline, _) in enumerate(pipelines):
            if index >= job.start:
                workflow.phases[pipeline.name] = "Pending"
                workflow.messages.pop(pipeline.name, None)
        new_works = {}
        for run in result.completed.values():
            workflow.phases[run.pipeline] = "Succeeded"
            new_works[run.pipeline] = self._resource_work(promise, request, run)
        ref = api.ref(request.name)
        outcome = Outcome(ref, job.action)
        if result.failed is not None:
            index, run = result.failed
            workflow.phases[run.pipeline] = "Failed"
            workflow.failure = run.error
            status_of.mark_failed(status, run.pipeline, run.error, now)
            status_of.mark_reconciled(status, now)
            status["workflowsFailed"] = 1
            request.obj["status"] = status
            # A failed workflow changes no file: the previous Works stay as they were.
            self._commit_request(request, [], [])
            return Outcome(ref, job.action, error=f"{api.quoted(request.name)}: pipeline {run.pipeline} failed: {run.error}")
        if result.stopped is not None:
            index, run = result.stopped
            workflow.stopped_at = index
            workflow.messages[run.pipeline] = run.control.message
            if run.control.retry_after:
                workflow.phases[run.pipeline] = "RetryScheduled"
                workflow.retry_at = now + run.control.retry_after_s
                status_of.mark_reconciled(status, now)
                outcome = Outcome(ref, job.action, note=f"pipeline {run.pipeline} retries after {run.control.retry_after}" + _suffix(run.control.message))
            else:
                workflow.phases[run.pipeline] = "Suspended"
                labels[SUSPENDED_LABEL] = "true"
                status_of.mark_reconciled(status, now, suspended=True)
                outcome = Outcome(ref, job.action, note=f"suspended at pipeline {run.pipeline}" + _suffix(run.control.message))
        else:
            status_of.mark_completed(status, "Resource requested", now)
            current = {p.name for p, _ in pipelines}
            removed = [w for key, w in request.works.items() if key not in current]
            status["observedGeneration"] = request.obj["metadata"]["generation"]
            status["workflows"] = status["workflowsSucceeded"] = len(pipelines)
            status["workflowsFailed"] = 0
            request.obj["status"] = status
            self._commit_request(request, list(new_works.values()), removed, completed=True)
            pending = _view_pending(request)
            if pending:
                return Outcome(ref, job.action, note=f"pending: {pending}")
            return outcome
        request.obj["status"] = status
        self._commit_request(request, list(new_works.values()), [])
        return outcome

    def _resource_work(self, promise: PromiseState, request: RequestState, run: PipelineRun) -> Work:
        groups = build_groups(run.files, run.selectors, workflow_source="resource-workflow", inherited=promise.inherited_scheduling())
        name = work_name(promise.name, run.pipeline, resource=request.name, namespace=request.namespace)
        return Work(name, promise.name, run.pipeline, request.namespace, request.name, groups)

    def _commit_request(self, request: RequestState, new: list[Work], removed: list[Work], *, completed: bool = False) -> None:
        """Place new Works, swap their directories in, and save the request, in one transaction."""
        tx = self.store.transaction()
        old = {key: request.works[key] for key in [*(w.pipeline for w in new), *(w.pipeline for w in removed)] if key in request.works}
        destinations = self.destinations
        for work in new:
            place(work, destinations, request.works.get(work.pipeline))
            request.works[work.pipeline] = work
        for work in removed:
            request.works.pop(work.pipeline, None)
        _stage_trees(tx, self.store.state, list(old.values()), new)
        if completed:
            self._mark_works(request)
        labels = request.obj["metadata"].get("labels")
        if labels == {}:
            del request.obj["metadata"]["labels"]
        tx.put_record(request.record, request.to_record())
        tx.commit()

    def _mark_works(self, request: RequestState) -> None:
        now = self.clock()
        pending = [f"{w.name} (no Destination matches {describe_selector(g.selector())})" for w in request.works.values() for g in w.pending()]
        misplaced = [w.name for w in request.works.values() if any(g.misplaced for g in w.groups)]
        status_of.mark_works(request.status, pending, misplaced, now)
        status_of.mark_reconciled(request.status, now)

    # ---- promises ------------------------------------------------------------------------

    def _install(self, document: Document) -> list[Outcome]:
        manifest = {k: copy.deepcopy(v) for k, v in document.obj.items() if k != "status"}
        name = manifest.get("metadata", {}).get("name", "")
        previous = self.promise(name) if name else None
        admit_promise(manifest, previous.manifest if previous else None)
        ref = f"promise.platform.kratix.io/{name}"
        if previous is not None and previous.manifest == manifest:
            return [Outcome(ref, "unchanged")]
        promise = PromiseState(manifest, copy.deepcopy(previous.status) if previous else {}, works=dict(previous.works) if previous else {})
        # Kratix re-runs every request of a Promise that changed.
        return self._configure_promise(promise, 0, "configured" if previous else "created", rerun_requests=True)

    def _configure_promise(self, promise: PromiseState, start: int, action: str, *, rerun_requests: bool = False) -> list[Outcome]:
        """The promise configure workflow and the dependencies Work; then, once the Promise is
        available, its requests: all of them after a change, else only if it just became available."""
        was_available = promise.available
        outcome = self._configure_promise_workflow(promise, start, action)
        if not promise.available or (was_available and not rerun_requests):
            return [outcome]
        jobs = [_Job(r, promise, 0, "configured", index) for index, r in enumerate(r for r in self.requests_of(promise.name) if not r.deleting)]
        if jobs:
            self.progress(f"promise {promise.name}: running the workflows of {len(jobs)} request(s)")
        rerun: list[Outcome | None] = [None] * len(jobs)
        self._run_jobs(jobs, rerun)
        return [outcome, *(o for o in rerun if o is not None and (not o.ok or o.note))]

    def _configure_promise_workflow(self, promise: PromiseState, start: int, action: str) -> Outcome:
        """Run the promise configure pipelines from `start`; commit their Works and the status."""
        now = self.clock()
        ref = f"promise.platform.kratix.io/{promise.name}"
        status = promise.status
        status_of.mark_in_progress(status, now)
        obj = {**promise.manifest, "status": status}
        pipelines = promise.pipelines("promise", "configure")
        result = self._run_configure(pipelines, obj, promise.subject(), start, f"promise {promise.name}", keep=_promise_status_keys)
        status = result.status
        promise.workflow.phases = {p.name: promise.workflow.phases.get(p.name, "Pending") if i < start else "Pending" for i, (p, _) in enumerate(pipelines)}
        new_works = [self._dependencies_work(promise)]
        for run in result.completed.values():
            promise.workflow.phases[run.pipeline] = "Succeeded"
            groups = build_groups(run.files, run.selectors, workflow_source="promise-workflow", inherited=promise.promise_scheduling())
            new_works.append(Work(work_name(promise.name, run.pipeline), promise.name, run.pipeline, groups=groups))
        promise.workflow.stopped_at, promise.workflow.retry_at, promise.workflow.failure = None, None, ""
        outcome = Outcome(ref, action)
        promise.available = False
        if result.failed is not None:
            _, run = result.failed
            promise.workflow.phases[run.pipeline] = "Failed"
            promise.workflow.failure = run.error
            status_of.mark_failed(status, run.pipeline, run.error, now)
            outcome = Outcome(ref, action, error=f'{PROMISE_RESOURCE} "{promise.name}": pipeline {run.pipeline} failed: {run.error}')
            new_works = []
        elif result.stopped is not None:
            index, run = result.stopped
            promise.workflow.stopped_at = index
            promise.workflow.phases[run.pipeline] = "RetryScheduled" if run.control.retry_after else "Suspended"
            promise.workflow.retry_at = now + run.control.retry_after_s if run.control.retry_after else None
            outcome = Outcome(ref, action, note=f"unavailable: pipeline {run.pipeline} stopped the workflow" + _suffix(run.control.message))
        else:
            status_of.mark_completed(status, "Promise configured", now)
            status_of.set_condition(status, status_of.AVAILABLE, "True", "PromiseAvailable", "Ready", now)
            promise.available = True
        status["status"] = "Available" if promise.available else "Unavailable"
        if promise.api is not None:
            status.update({"kind": promise.api.kind, "apiVersion": f"{promise.api.group}/{promise.api.served[0]}"})
        promise.status = status
        tx = self.store.transaction()
        current = {"", *(p.name for p, _ in pipelines)}
        removed = [w for key, w in promise.works.items() if key not in current] if result.failed is None else []
        destinations = self.destinations
        for work in new_works:
            place(work, destinations, promise.works.get(work.pipeline))
        old = [promise.works[w.pipeline] for w in [*new_works, *removed] if w.pipeline in promise.works]
        _stage_trees(tx, self.store.state, old, new_works)
        for work in removed:
            del promise.works[work.pipeline]
        for work in new_works:
            promise.works[work.pipeline] = work
        tx.put_record(promise.record, promise.to_record())
        tx.commit()
        self.save_promise(promise)
        return outcome

    def _dependencies_work(self, promise: PromiseState) -> Work:
        """spec.dependencies as Kratix writes them: one file under static/, to every matching Destination."""
        dependencies = promise.manifest["spec"].get("dependencies") or []
        groups = []
        if dependencies:
            files = {f"static/{promise.name}-dependencies.yaml": dump_documents(dependencies)}
            groups = [WorkloadGroup(".", files, promise.promise_scheduling())]
        return Work(work_name(promise.name, ""), promise.name, "", groups=groups)

    # ---- destinations --------------------------------------------------------------------

    def _register(self, document: Document) -> Outcome:
        destination = parse_destination(document.obj, "apply")
        ref = f"destination.platform.kratix.io/{destination.name}"
        if any(d.name == destination.name and d.source != "apply" for d in self.destinations):
            raise Rejected(f'{DESTINATION_RESOURCE} "{destination.name}" is managed by {self._source_of(destination.name)}; edit it there')
        record = f"destinations/{destination.name}.json"
        before = self.store.read(record)
        data = {"manifest": document.obj, "source": "apply"}
        if before == data:
            return Outcome(ref, "unchanged")
        tx = self.store.transaction()
        tx.put_record(record, data)
        self._commit_destinations(tx)
        return Outcome(ref, "configured" if before else "created")

    def _source_of(self, name: str) -> str:
        return next((d.source for d in self.destinations if d.name == name), "")

    def sync_destinations(self) -> None:
        """Play Flux on the platform Destinations, then reschedule if the Destinations changed.

        A Destination object placed on a platform Destination is registered (and removed when
        its file goes); every Work then gets the new Destinations that match it.
        """
        for _ in range(len(self.destinations) + 8):
            changed = self._register_emitted()
            known = self.store.read("destinations.json") or {}
            current = {d.name: {"path": d.path, "labels": dict(d.labels), "strict": d.strict_match_labels, "cleanup": d.cleanup} for d in self.destinations}
            if not changed and known == current:
                return
            self._reschedule(known, current)

    def _register_emitted(self) -> bool:
        """Register what Flux would have applied on the platform Destinations; True if that changed anything."""
        platform = {d.name for d in self.destinations if d.is_platform}
        emitted: dict[str, dict[str, Any]] = {}
        for owner in [*(p.works.values() for p in self.all_promises()), *(r.works.values() for p in self.all_promises() for r in self.requests_of(p.name))]:
            for work in owner:
                for group in work.groups:
                    if platform & set(group.placements):
                        for path, text in sorted(group.files.items()):
                            for obj in _destination_objects(text):
                                emitted[str(obj["metadata"]["name"])] = {"manifest": obj, "source": f"flux: {work.name}/{path}"}
        tx = self.store.transaction()
        static = {d.name for d in self.static}
        for record in self.store.list("destinations"):
            data = self.store.read(record)
            name = Path(record).stem
            if data["source"].startswith("flux: ") and name not in emitted:
                tx.remove_record(record)
        for name, data in sorted(emitted.items()):
            if name in static:
                continue
            try:
                parse_destination(data["manifest"], data["source"])
            except RunnerError as err:
                self.progress(f"flux: {data['source']}: not applied: {err}")
                continue
            record = f"destinations/{name}.json"
            existing = self.store.read(record)
            if existing != data and (existing is None or existing["source"].startswith("flux: ")):
                tx.put_record(record, data)
        changed = not tx.empty
        self._commit_destinations(tx)
        return changed

    def _reschedule(self, known: Mapping[str, Any], current: Mapping[str, Any]) -> None:
        """The Destinations changed: new ones get Kratix's canary files and every Work that matches.

        A removed Destination keeps its files unless its cleanup is `all`, as in Kratix; a
        request's group that was placed there is scheduled again.
        """
        tx = self.store.transaction()
        destinations = self.destinations
        by_name = {d.name: d for d in destinations}
        for name in sorted(set(current) - set(known)):
            destination = by_name[name]
            self.progress(f"destination {name}: registered ({destination.label_text()})")
            if destination.init_workloads:
                for relative, content in canary_files().items():
                    tx.put_file(destination.directory(self.store.state) / relative, content)
        keep: set[str] = set()
        for name in sorted(set(known) - set(current)):
            self.progress(f"destination {name}: removed")
            if known[name]["cleanup"] == "all":
                # As Kratix: the Destination's dependencies and resources go, not its whole path.
                for folder in ("dependencies", "resources"):
                    tx.remove_tree(self.store.state / known[name]["path"] / folder)
            else:
                keep.add(name)
        owners: list[PromiseState | RequestState] = []
        for promise in self.all_promises():
            owners += [promise, *self.requests_of(promise.name)]
        for owner in owners:
            old = [copy.deepcopy(w) for w in owner.works.values()]
            for work in owner.works.values():
                place(work, destinations, work)
            if _placements(old) == _placements(list(owner.works.values())):
                continue
            kept = {d for w in old for g in w.groups for n, d in g.placements.items() if n in keep}
            _stage_trees(tx, self.store.state, old, list(owner.works.values()), keep=kept)
            if isinstance(owner, RequestState) and status_of.condition(owner.status, status_of.CONFIGURE_COMPLETED)["status"] == "True":
                self._mark_works(owner)
            tx.put_record(owner.record, owner.to_record())
        tx.put_record("destinations.json", dict(current))
        tx.commit()

    # ---- delete --------------------------------------------------------------------------

    def delete(self, document: Document) -> Outcome:
        try:
            if is_promise(document.obj):
                return self._delete_promise(document.name)
            if is_destination(document.obj):
                return self._deregister(document.name)
            api, promise = self.api_for(document.group, document.kind)
            request = self.request(promise.name, document.namespace, document.name)
            if request is None:
                raise NotFound(f"{api.quoted(document.name)} not found")
            return self._delete_request(api, promise, request)
        except RunnerError as err:
            return Outcome(_document_ref(document), "not deleted", error=str(err))

    def _delete_request(self, api: Api, promise: PromiseState, request: RequestState) -> Outcome:
        """The first delete pipeline runs (output ignored); only then do the Works go."""
        ref = f'{api.kind.lower()}.{api.group} "{request.name}"'
        pipelines = promise.pipelines("resource", "delete")[:1]
        now = self.clock()
        for pipeline, manifest in pipelines:
            version = api.version_of(request.obj["apiVersion"])
            subject = Subject("resource", promise.name, api.kind, api.group, version, request.name, request.namespace, api.plural)
            run = run_pipeline(self.engine, pipeline, manifest, request.obj, subject, "delete")
            self.progress(f"{api.kind} {request.namespace}/{request.name}: delete pipeline {pipeline.name} " + ("failed" if run.error else "done"))
            if run.error or run.control.stops:
                request.deleting = True
                if run.error:
                    status_of.set_condition(request.status, status_of.DELETE_COMPLETED, "False", "DeleteWorkflowFailed", f"The Delete Pipeline has failed: {run.error}", now)
                else:
                    status_of.set_condition(request.status, status_of.DELETE_COMPLETED, "False", "DeleteWorkflowSuspended", run.control.message or "Suspended", now)
                self._commit_request(request, [], [])
                if run.error:
                    return Outcome(ref, "not deleted", error=f"{api.quoted(request.name)}: delete pipeline {pipeline.name} failed: {run.error}")
                return Outcome(ref, "not deleted", note=f"delete pipeline {pipeline.name} suspended the deletion" + _suffix(run.control.message))
        tx = self.store.transaction()
        _stage_trees(tx, self.store.state, list(request.works.values()), [])
        tx.remove_record(request.record)
        tx.commit()
        return Outcome(ref, "deleted")

    def _delete_promise(self, name: str) -> Outcome:
        """Promise delete pipeline, then every request (each with its delete pipeline), then the rest."""
        promise = self.promise(name)
        ref = f'promise.platform.kratix.io "{name}"'
        if promise is None:
            raise NotFound(f'{PROMISE_RESOURCE} "{name}" not found')
        for pipeline, manifest in promise.pipelines("promise", "delete")[:1]:
            run = run_pipeline(self.engine, pipeline, manifest, {**promise.manifest, "status": promise.status}, promise.subject(), "delete")
            if run.error:
                return Outcome(ref, "not deleted", error=f'{PROMISE_RESOURCE} "{name}": delete pipeline {pipeline.name} failed: {run.error}')
        if promise.api is not None:
            for request in self.requests_of(name):
                outcome = self._delete_request(promise.api, promise, request)
                if not outcome.ok or outcome.note:
                    return Outcome(ref, "not deleted", error=outcome.error or f"{promise.api.quoted(request.name)}: {outcome.note}")
        tx = self.store.transaction()
        _stage_trees(tx, self.store.state, list(promise.works.values()), [])
        tx.remove_record(promise.record)
        tx.commit()
        self._promises[name] = None
        return Outcome(ref, "deleted")

    def _deregister(self, name: str) -> Outcome:
        record = f"destinations/{name}.json"
        ref = f'destination.platform.kratix.io "{name}"'
        data = self.store.read(record)
        if data is None:
            source = self._source_of(name)
            if source:
                raise Rejected(f'{DESTINATION_RESOURCE} "{name}" is managed by {source}; edit it there')
            raise NotFound(f'{DESTINATION_RESOURCE} "{name}" not found')
        tx = self.store.transaction()
        tx.remove_record(record)
        self._commit_destinations(tx)
        return Outcome(ref, "deleted")

    # ---- reconcile, resume ---------------------------------------------------------------

    def reconcile(self, kind: str | None, name: str | None, namespace: str) -> list[Outcome]:
        if kind is None:
            now = self.clock()
            outcomes: list[Outcome] = []
            for promise in self.all_promises():
                if promise.workflow.retry_at is not None and promise.workflow.retry_at <= now:
                    outcomes += self._configure_promise(promise, promise.workflow.stopped_at or 0, "reconciled")
            jobs = [
                _Job(r, p, r.workflow.stopped_at or 0, "reconciled", 0)
                for p in self.all_promises()
                if p.available
                for r in self.requests_of(p.name)
                if r.workflow.retry_at is not None and r.workflow.retry_at <= now
            ]
            return outcomes + self._numbered(jobs)
        if name is None:
            raise RunnerError("reconcile: give a NAME with the KIND, or neither (for every due retryAfter)")
        if kind.lower() in ("promise", "promises", PROMISE_RESOURCE):
            installed = self.promise(name)
            if installed is None:
                raise NotFound(f'{PROMISE_RESOURCE} "{name}" not found')
            return self._configure_promise(installed, 0, "reconciled")
        request, promise = self._find(kind, name, namespace)
        return self._numbered([_Job(request, promise, 0, "reconciled", 0)])

    def resume(self, kind: str, name: str, namespace: str) -> list[Outcome]:
        request, promise = self._find(kind, name, namespace)
        if not request.workflow.suspended:
            assert promise.api is not None
            raise RunnerError(f"{promise.api.quoted(name)} is not suspended")
        return self._numbered([_Job(request, promise, request.workflow.stopped_at or 0, "resumed", 0)])

    def _numbered(self, jobs: list[_Job]) -> list[Outcome]:
        for slot, job in enumerate(jobs):
            job.slot = slot
        outcomes: list[Outcome | None] = [None] * len(jobs)
        self._run_jobs(jobs, outcomes)
        return [o for o in outcomes if o is not None]

    def _find(self, kind: str, name: str, namespace: str) -> tuple[RequestState, PromiseState]:
        api, promise = self.api_named(kind)
        request = self.request(promise.name, namespace, name)
        if request is None:
            raise NotFound(f"{api.quoted(name)} not found")
        if not promise.available:
            raise RunnerError(f"promise {promise.name} is not available")
        return request, promise

    # ---- get -----------------------------------------------------------------------------

    def views(self, kind: str | None, name: str | None, namespace: str | None) -> list[RequestView]:
        promises = [self.api_named(kind)[1]] if kind else self.all_promises()
        views = []
        for promise in promises:
            api = promise.api
            if api is None:
                continue
            for request in self.requests_of(promise.name):
                if (name is None or request.name == name) and (namespace is None or request.namespace == namespace):
                    views.append(RequestView(api, request))
        if name is not None and not views:
            api = promises[0].api if kind else None
            raise NotFound(f"{api.quoted(name) if api else repr(name)} not found")
        return views


def _default_clock() -> float:
    # A pinned SOURCE_DATE_EPOCH pins every recorded time too, for reproducible records.
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return float(epoch) if epoch.isdigit() else time.time()


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a spec-hash comparison sees: every top-level key but the object's identity and status."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


def _promise_status_keys(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k in PROMISE_WORKFLOW_STATUS_KEYS}


def _placements(works: list[Work]) -> dict[str, dict[str, str]]:
    return {directory: group.files for work in works for group in work.groups for directory in group.placements.values()}


def _stage_trees(tx: Transaction, state: Path, old: list[Work], new: list[Work], *, keep: AbstractSet[str] = frozenset()) -> None:
    """Swap in every placement directory that is new or changed; remove the ones that went."""
    before, after = _placements(old), _placements(new)
    for directory in sorted(set(before) - set(after) - keep):
        tx.remove_tree(state / directory)
    for directory, files in sorted(after.items()):
        if before.get(directory) != files:
            tx.put_tree(state / directory, files)


def _view_pending(request: RequestState) -> str:
    reasons = (f"no Destination matches {describe_selector(g.selector())}" for w in request.works.values() for g in w.pending())
    return "; ".join(dict.fromkeys(reasons))


def _suffix(message: str) -> str:
    return f": {message}" if message else ""


def _document_ref(document: Document) -> str:
    kind = document.kind.lower()
    return f"{kind}.{document.group}/{document.name}" if document.group else f"{kind}/{document.name}"


def _identity(job: _Job) -> tuple[str, str, str, str]:
    api = job.promise.api
    assert api is not None
    return (api.group, api.kind, job.request.namespace, job.request.name)


def _destination_objects(text: str) -> list[dict[str, Any]]:
    """The Destinations in one placed file; Flux would not apply a file that is not YAML."""
    if "Destination" not in text:
        return []
    try:
        documents = load_all(text)
    except yaml.YAMLError:
        return []
    return [d for d in documents if isinstance(d, dict) and is_destination(d) and isinstance(d.get("metadata"), dict) and d["metadata"].get("name")]
