"""The local platform runner: each Kratix semantic it emulates, provoked through a fixture Promise.

The fixture (tests/fixtures/runner) is a Widget API whose pipelines do what a request's
spec asks: suspend, retry, fail, write selectors or extra files. Most tests run it with the
inprocess engine for speed; test_runner_devenvironment.py runs the real promise, and the
subprocess engine, end to end.
"""

from __future__ import annotations

import copy
import io
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from promisekit.runner import Document, RequestView, Runner, records_dir
from promisekit.runner import _store
from promisekit.runner._cli import main as cli

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "runner"
PROMISE_FILE = FIXTURES / "promise.yaml"
DESTINATIONS = FIXTURES / "destinations.yaml"
START = 1_767_225_600.0
# The directory Kratix names a root workload group by: md5(".")[:5].
ROOT_ID = "5058f"


class Clock:
    """A clock the test moves: retryAfter is due only once it has passed."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Runner:
    monkeypatch.syspath_prepend(str(FIXTURES))
    return Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="inprocess", clock=clock)


def promise_manifest(**spec_changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(PROMISE_FILE.read_text(encoding="utf-8"))
    manifest["spec"].update(copy.deepcopy(spec_changes))
    return manifest


def promise(manifest: dict[str, Any] | None = None) -> Document:
    return Document(manifest or promise_manifest(), "promise.yaml")


def widget(name: str, namespace: str = "default", **spec: Any) -> Document:
    obj = {"apiVersion": "test.runner.local/v1", "kind": "Widget", "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    return Document(obj, f"{name}.yaml")


def only(items: list[T]) -> T:
    assert len(items) == 1, items
    return items[0]


def installed(runner: Runner, manifest: dict[str, Any] | None = None) -> Runner:
    outcome = only(runner.apply([promise(manifest)]))
    assert outcome.ok, outcome.error
    return runner


def tree(root: Path) -> dict[str, str]:
    """Every file of the state store, relative path -> content."""
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


def widget_files(runner: Runner, name: str, namespace: str = "default") -> dict[str, str]:
    """The files one request placed, relative to the state store, whatever its Destination."""
    return {path: text for path, text in tree(runner.store.state).items() if f"/resources/{namespace}/widget/{name}/" in path}


def view(runner: Runner, name: str, namespace: str = "default") -> RequestView:
    return only(runner.get("widget", name, namespace))


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


# ---- installing a promise ---------------------------------------------------------------


def test_install_writes_dependencies_and_promise_output_to_every_matching_destination(runner: Runner) -> None:
    installed(runner)
    files = tree(runner.store.state)
    for destination in ("platform", "dev-a", "dev-b", "staging"):
        assert f"{destination}/dependencies/widget/{ROOT_ID}/static/widget-dependencies.yaml" in files
        assert f"{destination}/dependencies/widget/promise-setup/{ROOT_ID}/operator.yaml" in files
        # Kratix's canary files, written when a Destination registers.
        assert f"{destination}/dependencies/kratix-canary-namespace.yaml" in files
    dependencies = yaml.safe_load(files[f"dev-a/dependencies/widget/{ROOT_ID}/static/widget-dependencies.yaml"])
    assert dependencies["metadata"]["name"] == "widget-defaults"
    status = only(runner.promises()).status
    assert status["message"] == "widget operator delivered"
    assert "notAllowed" not in status, "a promise workflow may set only message"
    assert condition(status, "ConfigureWorkflowCompleted")["reason"] == "PipelinesExecutedSuccessfully"


def test_promise_selectors_limit_promise_level_works(runner: Runner) -> None:
    installed(runner, promise_manifest(destinationSelectors=[{"matchLabels": {"environment": "dev"}}]))
    destinations = {path.split("/")[0] for path in tree(runner.store.state) if "/widget/" in path}
    assert destinations == {"dev-a", "dev-b"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["spec"]["api"]["spec"].update(scope="Cluster"), "spec.api: promise api needs to be namespace scoped"),
        (lambda m: m["spec"]["workflows"]["resource"]["configure"][0].update(extra=1), 'spec.workflows.resource.configure[0]: unknown field "extra"'),
        (lambda m: m["spec"]["workflows"]["resource"]["configure"][0]["spec"]["containers"][0].update(workingDir="/"), 'unknown field "workingDir"'),
        (lambda m: m["spec"]["workflows"]["resource"]["configure"][1]["metadata"].update(name="first"), "duplicate pipeline name 'first'"),
        (lambda m: m["spec"]["workflows"]["resource"]["configure"][0]["metadata"].update(name="x" * 50), "over 60"),
    ],
    ids=["cluster-scoped", "unknown-pipeline-field", "unknown-container-field", "duplicate-pipeline", "identity-too-long"],
)
def test_install_refuses_what_the_promise_webhook_refuses(runner: Runner, change: Any, message: str) -> None:
    manifest = promise_manifest()
    change(manifest)
    outcome = only(runner.apply([promise(manifest)]))
    assert outcome.error.startswith('promises.platform.kratix.io "widget" is invalid: ')
    assert message in outcome.error
    assert runner.promises() == []


def test_promise_api_cannot_change_its_names(runner: Runner) -> None:
    installed(runner)
    manifest = promise_manifest()
    manifest["spec"]["api"]["spec"]["names"]["plural"] = "widgetz"
    assert "spec.api.spec.names: field is immutable" in only(runner.apply([promise(manifest)])).error


# ---- applying requests ------------------------------------------------------------------


def test_request_status_merges_as_kratix_does(runner: Runner) -> None:
    installed(runner)
    assert only(runner.apply([widget("w1", color="green")])).ok
    status = view(runner, "w1").request.status
    assert status["stage"] == "two", "a later pipeline's key overwrites"
    assert status["color"] == "green", "keys a later pipeline leaves alone survive"
    assert status["sawStage"] == "one", "each pipeline sees the status the ones before it merged"
    types = [c["type"] for c in status["conditions"]]
    assert types == sorted(types)
    assert {"FirstDone", "SecondDone", "ConfigureWorkflowCompleted", "WorksSucceeded", "Reconciled"} <= set(types)
    assert condition(status, "ConfigureWorkflowCompleted")["message"] == "Pipelines completed"
    assert condition(status, "Reconciled")["status"] == "True"
    assert status["message"] == "green widget ready"
    assert status["observedGeneration"] == 1


def test_status_kratix_key_fails_the_pipeline(runner: Runner) -> None:
    installed(runner)
    outcome = only(runner.apply([widget("w1", writeKratixStatus=True)]))
    assert "pipeline first failed: metadata/status.yaml: the kratix key is reserved for Kratix" in outcome.error
    assert widget_files(runner, "w1") == {}


def test_pipelines_get_the_env_kratix_sets(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", namespace="team-a")])
    assert view(runner, "w1", "team-a").request.status["seenEnv"] == {
        "FIXTURE_GREETING": "hello",
        "KRATIX_CLUSTER_SCOPED": "false",
        "KRATIX_CRD_PLURAL": "widgets",
        "KRATIX_OBJECT_GROUP": "test.runner.local",
        "KRATIX_OBJECT_KIND": "Widget",
        "KRATIX_OBJECT_NAME": "w1",
        "KRATIX_OBJECT_NAMESPACE": "team-a",
        "KRATIX_OBJECT_VERSION": "v1",
        "KRATIX_PIPELINE_NAME": "first",
        "KRATIX_PROMISE_NAME": "widget",
        "KRATIX_WORKFLOW_ACTION": "configure",
        "KRATIX_WORKFLOW_TYPE": "resource",
    }


def test_request_is_defaulted_and_written_in_nested_by_metadata_layout(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", namespace="team-a")])
    request = view(runner, "w1", "team-a").request
    assert request.obj["spec"] == {"color": "red", "replicas": 1, "gate": "none"}
    files = widget_files(runner, "w1", "team-a")
    destination = only(list(view(runner, "w1", "team-a").files()))
    assert sorted(files) == [
        f"{destination}/resources/team-a/widget/w1/first/{ROOT_ID}/widget.yaml",
        f"{destination}/resources/team-a/widget/w1/second/{ROOT_ID}/second.yaml",
    ]


# ---- scheduling -------------------------------------------------------------------------


def test_promise_selectors_win_over_the_workflow_on_conflicts(runner: Runner) -> None:
    installed(runner, promise_manifest(destinationSelectors=[{"matchLabels": {"environment": "dev"}}]))
    runner.apply([widget("w1", selectors=[{"matchLabels": {"environment": "staging", "tier": "gold"}}])])
    # environment comes from the Promise (dev, not staging); tier=gold, unopposed, still applies.
    v = view(runner, "w1")
    assert v.files() == {}
    assert v.pending() == [f"widget-w1-default-{p}: no Destination matches environment=dev,tier=gold" for p in ("first", "second")]
    runner.apply([widget("w2", selectors=[{"matchLabels": {"environment": "staging"}}])])
    assert set(view(runner, "w2").files()) <= {"dev-a", "dev-b"}


def test_promise_workflow_root_selector_becomes_the_default_for_requests(runner: Runner) -> None:
    manifest = promise_manifest()
    manifest["metadata"]["annotations"] = {"fixture/workflow-selector": "environment=staging"}
    installed(runner, manifest)
    assert {p.split("/")[0] for p in tree(runner.store.state) if "promise-setup" in p} == {"staging"}
    runner.apply([widget("w1")])
    assert list(view(runner, "w1").files()) == ["staging"]


def test_directory_selectors_send_a_directory_elsewhere(runner: Runner) -> None:
    installed(runner, promise_manifest(destinationSelectors=[{"matchLabels": {"environment": "dev"}}]))
    selectors = [{"directory": "platform-bits", "matchLabels": {"environment": "platform"}}]
    runner.apply([widget("w1", selectors=selectors, extraFiles={"platform-bits/note.yaml": "kind: Note\n"})])
    files = widget_files(runner, "w1")
    platform_group = [p for p in files if p.startswith("platform/")]
    digest = "a6e46"  # md5("platform-bits")[:5], as Kratix names the group
    assert platform_group == [f"platform/resources/default/widget/w1/first/{digest}/platform-bits/note.yaml"], "a directory entry ignores the Promise's selectors"
    assert {p.split("/")[0] for p in files if "widget.yaml" in p} <= {"dev-a", "dev-b"}


def test_a_request_lands_on_exactly_one_destination_chosen_deterministically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    chosen = []
    for attempt in ("one", "two"):
        runner = Runner(tmp_path / attempt, destinations_file=DESTINATIONS, engine="inprocess")
        installed(runner, promise_manifest(destinationSelectors=[{"matchLabels": {"environment": "dev"}}]))
        runner.apply([widget(f"w{i}") for i in range(8)])
        chosen.append({v.request.name: list(v.files()) for v in runner.get("widget")})
    assert chosen[0] == chosen[1]
    assert all(len(d) == 1 for d in chosen[0].values())
    assert {d[0] for d in chosen[0].values()} == {"dev-a", "dev-b"}, "rendezvous hashing spreads requests"


def test_no_matching_destination_leaves_the_request_pending(runner: Runner) -> None:
    installed(runner)
    outcome = only(runner.apply([widget("w1", selectors=[{"matchLabels": {"environment": "production"}}])]))
    assert outcome.ok
    assert outcome.note == "pending: no Destination matches environment=production"
    status = view(runner, "w1").request.status
    works = condition(status, "WorksSucceeded")
    assert (works["status"], works["reason"]) == ("Unknown", "WorksPending")
    assert "no Destination matches environment=production" in works["message"]
    assert condition(status, "Reconciled")["message"] == "Pending"
    assert widget_files(runner, "w1") == {}


# ---- workflow control -------------------------------------------------------------------


def test_suspend_stops_the_workflow_and_resume_continues_it(runner: Runner) -> None:
    installed(runner)
    outcome = only(runner.apply([widget("w1", gate="approval")]))
    assert outcome.note == "suspended at pipeline first: waiting for approval"
    request = view(runner, "w1").request
    assert request.obj["metadata"]["labels"] == {"kratix.io/workflow-suspended": "true"}
    assert request.workflow.phases == {"first": "Suspended", "second": "Pending"}
    assert (condition(request.status, "Reconciled")["reason"], condition(request.status, "Reconciled")["message"]) == ("WorkflowSuspended", "Suspended")
    assert widget_files(runner, "w1") == {}, "a suspended pipeline's output is not written"
    assert only(runner.apply([widget("w1", gate="approval")])).action == "unchanged"

    assert only(runner.resume("widget", "w1")).ok
    request = view(runner, "w1").request
    assert request.workflow.phases == {"first": "Succeeded", "second": "Succeeded"}
    assert "labels" not in request.obj["metadata"]
    assert len(widget_files(runner, "w1")) == 2


def test_spec_change_while_suspended_restarts_from_the_first_pipeline(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", gate="approval")])
    assert only(runner.apply([widget("w1", gate="none")])).ok
    assert view(runner, "w1").request.workflow.phases == {"first": "Succeeded", "second": "Succeeded"}


def test_retry_after_runs_again_once_due(runner: Runner, clock: Clock) -> None:
    installed(runner)
    outcome = only(runner.apply([widget("w1", retry=True)]))
    assert outcome.note == "pipeline first retries after 10m: dependency not ready"
    assert view(runner, "w1").request.workflow.phases == {"first": "RetryScheduled", "second": "Pending"}
    assert runner.reconcile() == [], "not due yet"
    clock.now += 601
    assert only(runner.reconcile()).ok
    request = view(runner, "w1").request
    assert request.status["attempts"] == 1
    assert request.workflow.phases == {"first": "Succeeded", "second": "Succeeded"}
    assert len(widget_files(runner, "w1")) == 2


# ---- changes and failures ---------------------------------------------------------------


def test_reapply_replaces_the_files_and_leaves_no_stale_one(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", extraFiles={"a.yaml": "kind: A\n"})])
    assert any(p.endswith("/a.yaml") for p in widget_files(runner, "w1"))
    assert only(runner.apply([widget("w1", extraFiles={"b.yaml": "kind: B\n"})])).action == "configured"
    names = sorted(Path(p).name for p in widget_files(runner, "w1"))
    assert names == ["b.yaml", "second.yaml", "widget.yaml"]
    assert view(runner, "w1").request.obj["metadata"]["generation"] == 2


def test_unchanged_reapply_runs_nothing(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1")])
    assert only(runner.apply([widget("w1")])).line() == "widget.test.runner.local/w1 unchanged"


def test_a_failing_pipeline_keeps_the_previous_files_and_says_why(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", color="green")])
    before = widget_files(runner, "w1")
    outcome = only(runner.apply([widget("w1", color="blue", failAt="second")]))
    assert outcome.error == 'widgets.test.runner.local "w1": pipeline second failed: container fixture exited with code 1: second: failing as asked (failAt: second)'
    assert widget_files(runner, "w1") == before, "nothing of the failed run reaches the state store"
    status = view(runner, "w1").request.status
    configured = condition(status, "ConfigureWorkflowCompleted")
    assert (configured["status"], configured["reason"]) == ("False", "ConfigureWorkflowFailed")
    assert configured["message"].startswith("A Configure Pipeline has failed: second: ")
    assert condition(status, "Reconciled")["message"] == "Failing"


def test_delete_runs_the_delete_pipeline_and_removes_the_files(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", namespace="team-a"), widget("w2", namespace="team-a")])
    outcome = only(runner.delete([widget("w1", namespace="team-a")]))
    assert outcome.line() == 'widget.test.runner.local "w1" deleted'
    assert widget_files(runner, "w1", "team-a") == {}
    assert not any("ignored.yaml" in p for p in tree(runner.store.state)), "delete pipeline output is ignored"
    assert [v.request.name for v in runner.get("widget")] == ["w2"]
    runner.delete([widget("w2", namespace="team-a")])
    assert not any("/resources/team-a" in p for p in tree(runner.store.state)), "emptied directories are pruned"
    assert only(runner.delete([widget("w2", namespace="team-a")])).error == 'widgets.test.runner.local "w2" not found'


def test_a_failing_delete_pipeline_keeps_the_request(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1", failDelete=True)])
    before = widget_files(runner, "w1")
    outcome = only(runner.delete([widget("w1")]))
    assert "delete pipeline cleanup failed" in outcome.error
    assert widget_files(runner, "w1") == before
    deleted = condition(view(runner, "w1").request.status, "DeleteWorkflowCompleted")
    assert (deleted["status"], deleted["reason"]) == ("False", "DeleteWorkflowFailed")


def test_reinstalling_a_changed_promise_reruns_every_request(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1"), widget("w2", namespace="team-a")])
    manifest = promise_manifest()
    for pipeline in manifest["spec"]["workflows"]["resource"]["configure"]:
        pipeline["spec"]["containers"][0]["env"] = [{"name": "FIXTURE_GREETING", "value": "bonjour"}]
    assert [o.line() for o in runner.apply([promise(manifest)])] == ["promise.platform.kratix.io/widget configured"]
    for name, namespace in (("w1", "default"), ("w2", "team-a")):
        widget_yaml = next(t for p, t in widget_files(runner, name, namespace).items() if p.endswith("widget.yaml"))
        assert yaml.safe_load(widget_yaml)["data"]["greeting"] == "bonjour"
    assert only(runner.apply([promise(manifest)])).action == "unchanged"


def test_removing_a_pipeline_from_the_promise_removes_its_files(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1")])
    manifest = promise_manifest()
    del manifest["spec"]["workflows"]["resource"]["configure"][1]
    runner.apply([promise(manifest)])
    assert [Path(p).name for p in widget_files(runner, "w1")] == ["widget.yaml"]


# ---- growing the platform ---------------------------------------------------------------

EDGE_DESTINATION = """apiVersion: platform.kratix.io/v1alpha1
kind: Destination
metadata:
  name: edge-1
  labels: {environment: edge}
spec:
  path: edge-1
"""


def test_a_destination_written_to_the_platform_registers_a_destination(runner: Runner) -> None:
    installed(runner)
    selectors = [{"directory": "platform", "matchLabels": {"environment": "platform"}}]
    runner.apply([widget("cluster", selectors=selectors, extraFiles={"platform/destination.yaml": EDGE_DESTINATION})])
    edge = next(d for d in runner.destinations() if d.name == "edge-1")
    assert edge.source == "flux: widget-cluster-default-first/platform/destination.yaml"
    files = tree(runner.store.state)
    assert "edge-1/dependencies/kratix-canary-namespace.yaml" in files
    assert f"edge-1/dependencies/widget/{ROOT_ID}/static/widget-dependencies.yaml" in files, "the new Destination gets the Promise's dependencies"
    runner.apply([widget("on-edge", selectors=[{"matchLabels": {"environment": "edge"}}])])
    assert list(view(runner, "on-edge").files()) == ["edge-1"]

    runner.delete([widget("cluster")])
    assert "edge-1" not in {d.name for d in runner.destinations()}, "Flux prunes the Destination with its file"


def test_a_pending_request_is_placed_once_its_destination_registers(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("waiting", selectors=[{"matchLabels": {"environment": "edge"}}])])
    assert view(runner, "waiting").pending()
    selectors = [{"directory": "platform", "matchLabels": {"environment": "platform"}}]
    runner.apply([widget("cluster", selectors=selectors, extraFiles={"platform/destination.yaml": EDGE_DESTINATION})])
    waiting = view(runner, "waiting")
    assert list(waiting.files()) == ["edge-1"]
    assert condition(waiting.request.status, "WorksSucceeded")["status"] == "True"


def test_apply_of_a_destination_registers_it(runner: Runner) -> None:
    installed(runner)
    obj = yaml.safe_load(EDGE_DESTINATION)
    assert only(runner.apply([Document(obj, "edge.yaml")])).line() == "destination.platform.kratix.io/edge-1 created"
    assert "edge-1/resources/kratix-canary-configmap.yaml" in tree(runner.store.state)
    assert only(runner.delete([Document(obj, "edge.yaml")])).ok
    assert "edge-1" not in {d.name for d in runner.destinations()}


# ---- state and errors -------------------------------------------------------------------


def test_separate_runners_share_one_state_like_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    first = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="inprocess")
    installed(first)
    first.apply([widget("w1")])
    second = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="inprocess")
    assert [v.request.name for v in second.get("wd")] == ["w1"]
    assert (records_dir(tmp_path / "state") / "requests" / "widget" / "default" / "w1.json").is_file()


def test_same_input_gives_a_byte_identical_state_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    stores = []
    for attempt in ("one", "two"):
        runner = Runner(tmp_path / attempt, destinations_file=DESTINATIONS, engine="inprocess")
        installed(runner)
        runner.apply([widget("w1", color="blue"), widget("w2", namespace="x", selectors=[{"directory": "extra", "matchLabels": {"environment": "staging"}}], extraFiles={"extra/e.yaml": "e: 1\n"})])
        stores.append(tree(runner.store.state))
    assert stores[0] == stores[1]


def test_an_interrupted_commit_is_rolled_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store.Store(tmp_path / "state")
    with store.session():
        tx = store.transaction()
        tx.put_tree(store.state / "d" / "one", {"a.yaml": "old\n"})
        tx.put_tree(store.state / "d" / "two", {"b.yaml": "old\n"})
        tx.commit()
    real_replace = os.replace
    swaps: list[str] = []

    def power_cut_on_the_second_swap(source: Any, target: Any) -> None:
        if "/new/" in str(source):
            swaps.append(str(target))
            if len(swaps) == 2:
                raise KeyboardInterrupt("power cut")
        real_replace(source, target)

    with store.session():
        tx = store.transaction()
        tx.put_tree(store.state / "d" / "one", {"a.yaml": "new\n"})
        tx.put_tree(store.state / "d" / "two", {"c.yaml": "new\n"})
        monkeypatch.setattr(os, "replace", power_cut_on_the_second_swap)
        with pytest.raises(KeyboardInterrupt):
            tx.commit()
        monkeypatch.setattr(os, "replace", real_replace)
    assert tree(store.state) == {"d/one/a.yaml": "new\n"}, "cut mid-swap: one directory new, the other moved aside"
    with store.session():
        pass
    assert tree(store.state) == {"d/one/a.yaml": "new\n", "d/two/c.yaml": "new\n"}, "the journal finishes the swap"
    assert not any((store.records / ".journal").iterdir())


def test_a_commit_interrupted_before_its_journal_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store.Store(tmp_path / "state")
    with store.session():
        tx = store.transaction()
        tx.put_tree(store.state / "d", {"a.yaml": "old\n"})
        tx.commit()
    real_write = _store._write

    def power_cut_at_the_journal(path: Path, content: str, *, atomic: bool = False) -> None:
        if atomic:
            raise KeyboardInterrupt("power cut")
        real_write(path, content)

    with store.session():
        tx = store.transaction()
        tx.put_tree(store.state / "d", {"a.yaml": "new\n"})
        monkeypatch.setattr(_store, "_write", power_cut_at_the_journal)
        with pytest.raises(KeyboardInterrupt):
            tx.commit()
        monkeypatch.setattr(_store, "_write", real_write)
    with store.session():
        pass
    assert tree(store.state) == {"d/a.yaml": "old\n"}
    assert not any((store.records / ".journal").iterdir()), "the staged files are cleared away"


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.syspath_prepend(str(FIXTURES))
    options = ["--state", str(tmp_path / "state"), "--destinations", str(DESTINATIONS), "--engine", "inprocess", "-q"]
    code, _, err = run_cli(["install", "-f", str(PROMISE_FILE), *options])
    assert code == 0, err
    return options


def write(tmp_path: Path, name: str, obj: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(obj), encoding="utf-8")
    return str(path)


def test_cli_unknown_kind_is_a_kubectl_like_error(tmp_path: Path, cli_state: list[str]) -> None:
    path = write(tmp_path, "foo.yaml", {"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "x"}})
    assert run_cli(["apply", "-f", path, *cli_state]) == (1, "", 'error: the server doesn\'t have a resource type "Foo"\n')
    assert run_cli(["get", "foo", *cli_state]) == (1, "", 'error: the server doesn\'t have a resource type "foo"\n')


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"color": "purple"}, 'spec.color: must be one of red, green, blue (got "purple")'),
        ({"team": "Team A"}, 'spec.team: must match ^[a-z]+$ (got "Team A")'),
        ({"replicas": "two"}, 'spec.replicas: must be an integer (got "two")'),
        ({"colour": "red"}, "spec.colour: unknown field"),
        ({"color": "blue", "replicas": 5}, "spec: blue widgets come in at most 3 replicas"),
    ],
    ids=["enum", "pattern", "type", "unknown-field", "cel-rule"],
)
def test_cli_invalid_request_is_one_kubectl_like_line(tmp_path: Path, cli_state: list[str], spec: dict[str, Any], error: str) -> None:
    path = write(tmp_path, "w.yaml", widget("bad", **spec).obj)
    code, out, err = run_cli(["apply", "-f", path, *cli_state])
    assert (code, out) == (1, "")
    assert err == f'error: widgets.test.runner.local "bad" is invalid: {error}\n'


def test_cli_apply_get_describe_delete(tmp_path: Path, cli_state: list[str]) -> None:
    path = write(tmp_path, "w.yaml", widget("w1", color="green").obj)
    assert run_cli(["apply", "-f", path, *cli_state]) == (0, "widget.test.runner.local/w1 created\n", "")
    code, out, _ = run_cli(["get", "widgets", *cli_state])
    header, row = out.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "STATUS", "MESSAGE", "CONDITIONS", "DESTINATION"]
    assert row.split()[:5] == ["default", "w1", "Reconciled", "green", "widget"]
    code, out, _ = run_cli(["describe", "widget", "w1", *cli_state])
    assert code == 0
    assert "  ConfigureWorkflowCompleted   True     PipelinesExecutedSuccessfully   Pipelines completed" in out
    assert f"/resources/default/widget/w1/first/{ROOT_ID}/widget.yaml" in out
    assert run_cli(["delete", "-f", path, *cli_state]) == (0, 'widget.test.runner.local "w1" deleted\n', "")
    assert run_cli(["describe", "widget", "w1", *cli_state]) == (1, "", 'error: widgets.test.runner.local "w1" not found\n')


def test_cli_missing_file_is_one_line(cli_state: list[str]) -> None:
    assert run_cli(["apply", "-f", "/nonexistent.yaml", *cli_state]) == (1, "", 'error: the path "/nonexistent.yaml" does not exist\n')


def test_records_are_json_beside_the_state_store(runner: Runner) -> None:
    installed(runner)
    record = json.loads((records_dir(runner.store.state) / "promises" / "widget.json").read_text(encoding="utf-8"))
    assert record["available"] is True


def test_two_documents_for_one_request_apply_in_order(runner: Runner) -> None:
    installed(runner)
    outcomes = runner.apply([widget("w1", color="green"), widget("w1", color="blue")])
    assert [o.action for o in outcomes] == ["created", "configured"]
    request = view(runner, "w1").request
    assert (request.obj["spec"]["color"], request.obj["metadata"]["generation"]) == ("blue", 2)


def test_requests_wait_for_a_failing_promise_and_run_once_it_is_fixed(runner: Runner) -> None:
    broken = promise_manifest()
    broken["metadata"]["annotations"] = {"fixture/fail-at": "promise-setup"}
    outcome = only(runner.apply([promise(broken)]))
    assert outcome.error.startswith('promises.platform.kratix.io "widget": pipeline promise-setup failed: ')
    waiting = only(runner.apply([widget("w1")]))
    assert waiting.note == "waiting for promise widget to be available", "the API is registered, as Kratix creates the CRD first"
    assert widget_files(runner, "w1") == {}
    fixed = [o.line() for o in runner.apply([promise()])]
    assert fixed == ["promise.platform.kratix.io/widget configured"]
    assert len(widget_files(runner, "w1")) == 2


def test_manual_reconciliation_reruns_from_the_first_pipeline(runner: Runner) -> None:
    installed(runner)
    runner.apply([widget("w1")])
    before = view(runner, "w1").request.status
    assert [o.line() for o in runner.reconcile("wd", "w1")] == ["widget.test.runner.local/w1 reconciled"]
    after = view(runner, "w1").request.status
    assert after["stage"] == "two" and after["observedGeneration"] == before["observedGeneration"]


def test_the_subprocess_engine_runs_each_container_as_its_own_process(tmp_path: Path) -> None:
    runner = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="subprocess", python_path=[FIXTURES])
    installed(runner)
    outcomes = runner.apply([widget("w1", color="green"), widget("w2", namespace="team-a", gate="approval")])
    assert [o.line() for o in outcomes] == [
        "widget.test.runner.local/w1 created",
        "widget.test.runner.local/w2 created (suspended at pipeline first: waiting for approval)",
    ]
    assert view(runner, "w1").request.status["seenEnv"]["KRATIX_PIPELINE_NAME"] == "first"
    assert only(runner.resume("widget", "w2", "team-a")).ok
    assert len(widget_files(runner, "w2", "team-a")) == 2


def test_a_pipeline_written_with_kratix_sdk_runs_in_the_runner(tmp_path: Path) -> None:
    """kratix-sdk is the reference: it reads the runner's object.yaml and env, and the runner reads what it writes."""
    manifest = promise_manifest()
    first = manifest["spec"]["workflows"]["resource"]["configure"][0]["spec"]["containers"][0]
    first["command"] = ["python3", "-m", "sdk_fixture"]
    first["args"] = []
    runner = Runner(tmp_path / "state", destinations_file=DESTINATIONS, engine="subprocess", python_path=[FIXTURES])
    installed(runner, manifest)
    assert only(runner.apply([widget("w1", namespace="team-a", color="green")])).ok
    status = view(runner, "w1", "team-a").request.status
    assert status["sdkSaw"] == {
        "name": "w1", "namespace": "team-a", "color": "green", "kind": "Widget",
        "workflow": "resource/configure", "promise": "widget", "pipeline": "first",
    }
    [configmap] = [yaml.safe_load(text) for path, text in widget_files(runner, "w1", "team-a").items() if path.endswith("/sdk/configmap.yaml")]
    assert configmap["metadata"]["name"] == "w1-sdk"
    assert {path.split("/")[0] for path in widget_files(runner, "w1", "team-a")} <= {"dev-a", "dev-b"}, "the SDK's selectors place it"
