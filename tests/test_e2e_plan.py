"""The kind end-to-end suite, offline: every manifest it applies validated, every wait judged.

`make e2e` cannot run on this machine (no kind node image, no control plane), so what it
would do is checked here as data: e2e.plan renders the whole suite from the repository,
and these tests hold it to what the suite promises to do on a cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from e2e import install, plan as plans, run
from e2e.kube import EXISTS, GONE, Apply, Delete, ExpectNone, Mark, Wait, known_condition, satisfied
from harness import ROOT
from promisekit import checks

PLATFORM_IP = "172.18.0.2"


@lru_cache(maxsize=1)
def rendered() -> plans.Plan:
    return plans.render(plans.Settings(), PLATFORM_IP)


def phase(name: str) -> plans.Phase:
    [found] = [p for p in rendered().phases if p.name.startswith(name)]
    return found


def waits(phase_name: str) -> list[Wait]:
    return [step for step in phase(phase_name).steps if isinstance(step, Wait)]


def examples() -> list[tuple[str, Path]]:
    return plans.example_files(install.library())


def request_ref(path: Path) -> tuple[str, str, str]:
    obj = plans.load_yaml_all(path)[0]
    return plans.resource_of(obj), obj["metadata"]["name"], obj["metadata"].get("namespace", "")


def test_every_manifest_the_suite_renders_validates() -> None:
    manifests = rendered().manifests
    assert {m["kind"] for _, m in manifests} >= {"BucketStateStore", "Bucket", "Kustomization", "Destination", "Secret", "Namespace"}
    for what, manifest in manifests:
        try:
            checks.validate_manifest(dict(manifest))
        except checks.ManifestInvalid as error:
            raise AssertionError(f"{what}: {error}") from None


def test_every_wait_is_judged_and_every_ref_has_a_cluster() -> None:
    contexts = {cluster.context for cluster in rendered().clusters} | set(rendered().connections)
    for step in rendered().steps():
        if isinstance(step, Wait):
            assert known_condition(step.condition), step.what
            assert step.refs and all(ref.context in contexts for ref in step.refs), step.what
        if isinstance(step, (Apply, Delete)):
            assert step.context in contexts, step.what


def test_each_destination_cluster_gets_kratix_s_two_kustomizations() -> None:
    kustomizations = {m["metadata"]["name"]: m["spec"] for what, m in rendered().manifests if m["kind"] == "Kustomization" and "worker-1" in what}
    assert kustomizations["kratix-workload-dependencies"]["path"] == "./worker-1/dependencies"
    assert kustomizations["kratix-workload-resources"]["path"] == "./worker-1/resources"
    assert kustomizations["kratix-workload-resources"]["dependsOn"] == [{"name": "kratix-workload-dependencies"}]
    buckets = {what: m["spec"]["endpoint"] for what, m in rendered().manifests if m["kind"] == "Bucket"}
    assert any(endpoint == f"{PLATFORM_IP}:{plans.MINIO_NODE_PORT}" for endpoint in buckets.values()), "workers reach MinIO on the platform node"


def test_every_example_is_applied_and_waited_for_until_its_workloads_are_ready() -> None:
    requests = waits("requests")
    applied = [step for step in phase("requests").steps if isinstance(step, Apply) and step.what.startswith("request ")]
    assert len(applied) == len(examples()) and len(examples()) >= 20
    for promise, path in examples():
        resource, name, namespace = request_ref(path)
        relative = str(path.relative_to(ROOT))
        mine = [w for w in requests if w.what.startswith(f"{relative}:")]
        completed = [w for w in mine if w.condition == "condition=ConfigureWorkflowCompleted"]
        assert [(r.resource, r.name, r.namespace) for w in completed for r in w.refs] == [(resource, name, namespace)], relative
        assert any(w.condition != "condition=ConfigureWorkflowCompleted" for w in mine), f"{relative}: no workload waited for"
        assert {w.timer for w in mine} == {f"{promise} {namespace or 'default'}/{name}"}


def test_a_vcluster_destination_is_reached_and_its_dependencies_awaited() -> None:
    connections = rendered().connections
    assert "e2e-vcluster-default-staging" in connections
    staging = connections["e2e-vcluster-default-staging"]
    # Found in the VCluster's own Flux Kustomizations, not the chart's fallback Secret.
    assert staging.how.startswith("Kustomization "), staging
    requests = waits("requests")
    web = [w for w in requests if w.what.startswith("examples/devenvironment/web-staging.yaml: its workloads")]
    assert web and all(ref.context == staging.context for w in web for ref in w.refs)
    added = [w for w in requests if "every promise's dependencies on the new Destination vcluster-default-staging" in w.what]
    assert {ref.name for w in added for ref in w.refs} >= {"cloudnative-pg", "external-secrets"}
    # The promises phase waits only on clusters that exist before any request.
    kind = {cluster.context for cluster in rendered().clusters}
    assert all(ref.context in kind for w in waits("promises") for ref in w.refs)


def test_cleanup_deletes_vcluster_tenants_first_and_asserts_everything_gone() -> None:
    steps = phase("cleanup").steps
    deletes = [step.what for step in steps if isinstance(step, Delete) and step.what.startswith("request ")]
    assert deletes.index("request examples/devenvironment/web-staging.yaml") < deletes.index("request examples/platform/vcluster-staging.yaml")
    gone = {(r.resource, r.name, r.namespace) for step in steps if isinstance(step, Wait) and step.condition == GONE for r in step.refs}
    for _, path in examples():
        assert request_ref(path) in gone, f"{path}: its deletion is not awaited"
    for name in install.promise_names():
        assert (install.PROMISE_RESOURCE, name, "") in gone
        none = [step.what for step in steps if isinstance(step, ExpectNone) and step.what.startswith(f"promise {name}:")]
        assert len(none) == 3, none


def test_the_time_to_ready_table_has_a_row_per_promise_and_request() -> None:
    plan = rendered()
    marks = {step.timer for step in plan.steps() if isinstance(step, Mark)}
    assert set(plan.timers) == marks
    clock = run.Clock({timer: 0.0 for timer in plan.timers}, {timer: 42.0 for timer in plan.timers})
    text = run.table(plan, clock)
    for name in install.promise_names():
        assert any(line.startswith(name) and "42 s" in line for line in text.splitlines()), name
    assert "team-a/web-staging" in text


# --- how a wait is judged: the same rules as `kubectl wait --for`


def _obj(generation: int = 1, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {}, "status": status}


@pytest.mark.parametrize(
    "reason, condition, obj, expected",
    [
        ("missing object: not yet", "condition=Ready", None, False),
        ("exists", EXISTS, _obj(), True),
        ("gone means absent", GONE, None, True),
        ("still there", GONE, _obj(), False),
        ("condition True", "condition=Ready", _obj(conditions=[{"type": "Ready", "status": "True"}]), True),
        ("condition False", "condition=Ready", _obj(conditions=[{"type": "Ready", "status": "False"}]), False),
        ("another condition only", "condition=Ready", _obj(conditions=[{"type": "Other", "status": "True"}]), False),
        ("stale: observed an older generation", "condition=Ready", _obj(2, conditions=[{"type": "Ready", "status": "True", "observedGeneration": 1}]), False),
        ("current generation", "condition=Ready", _obj(2, conditions=[{"type": "Ready", "status": "True", "observedGeneration": 2}]), True),
        ("jsonpath literal", "jsonpath={.status.status}=Available", _obj(status="Available"), True),
        ("jsonpath other value", "jsonpath={.status.status}=Available", _obj(status="Unavailable"), False),
        ("jsonpath against another path", "jsonpath={.status.numberReady}={.status.desiredNumberScheduled}", _obj(numberReady=2, desiredNumberScheduled=2), True),
        ("replicas default to one", "jsonpath={.status.readyReplicas}={.spec.replicas}", _obj(readyReplicas=1), True),
        ("no ready replica yet", "jsonpath={.status.readyReplicas}={.spec.replicas}", _obj(), False),
    ],
)
def test_satisfied(reason: str, condition: str, obj: dict[str, Any] | None, expected: bool) -> None:
    assert satisfied(condition, obj) is expected, reason


def test_an_unknown_condition_is_refused() -> None:
    assert not known_condition("exists=maybe")
    with pytest.raises(ValueError, match="only {.a.b} paths"):
        satisfied("jsonpath=.status.phase=Active", _obj())


# --- make install / uninstall


def test_install_order_puts_required_promises_first() -> None:
    order = install.install_order(install.library())
    assert order.index("postgresql") < order.index("devenvironment")
    assert order.index("chaosexperiment") < order.index("immunitytest")
    assert sorted(order) == install.promise_names()


def test_a_cycle_of_required_promises_is_an_error() -> None:
    documents = {
        "a": {"spec": {"requiredPromises": [{"name": "b"}]}},
        "b": {"spec": {"requiredPromises": [{"name": "a"}]}},
    }
    with pytest.raises(install.InstallError, match="requiredPromises form a cycle: a -> b -> a"):
        install.install_order(documents)


def test_make_install_dry_run_applies_every_promise_in_order() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-m", "e2e.install", "apply", "--dry-run", "--context", "kind-platform"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    applied = [line.rsplit("# promise ", 1)[1] for line in done.stdout.splitlines() if "apply -f -" in line]
    assert applied == install.install_order(install.library())
    assert all(line.startswith("would run: kubectl --context kind-platform ") for line in done.stdout.splitlines())


# --- prerequisites: checked first, every missing one listed


def test_e2e_check_lists_everything_missing(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-m", "e2e.run", "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("make e2e: cannot run here; missing:\n")
    listed = [line.split(":")[0].strip(" -") for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert listed == [p.name for p in run.PREREQUISITES]


def test_the_github_workflow_runs_make_e2e_with_the_pinned_kind() -> None:
    workflow = plans.load_yaml_all(ROOT / ".github" / "workflows" / "e2e.yaml")[0]
    assert workflow["env"]["KIND_VERSION"] == plans.KIND_VERSION
    [job] = workflow["jobs"].values()
    assert any(step.get("run", "").startswith("make e2e") for step in job["steps"])
