"""The conformance suite: every promise in promises/ gets every check, with no new test code."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import GOLDEN, PROMISES, Run, examples, expected_error, invalid_examples, load, promise_document, run_subprocess
from promisekit import build, checks, promise_rules, settings

EXAMPLE_CASES = [pytest.param(name, path, id=f"{name}/{path.stem}") for name in PROMISES for path in examples(name)]
INVALID_CASES = [pytest.param(name, path, id=f"{name}/{path.stem}") for name in PROMISES for path in invalid_examples(name)]


# Every object says which promise and request made it (style: Bitnami's standard labels).
TIED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "kratix.io/promise-name", "platform.homelab.io/request-name", "platform.homelab.io/request-namespace")


def check_rendered(run: Run, request: dict[str, Any] | None = None) -> None:
    """What every rendered output must satisfy, whichever promise and request made it."""
    assert run.returncode == 0, run.stderr
    objects = run.objects()
    for obj in objects:
        checks.validate_manifest(obj)
        if request is not None:
            labels = obj["metadata"].get("labels", {})
            missing = [key for key in TIED_LABELS if key not in labels]
            assert not missing, f"{obj['kind']}/{obj['metadata']['name']}: no {missing} label"
            assert labels["platform.homelab.io/request-name"] == request["metadata"]["name"]
            assert labels["platform.homelab.io/request-namespace"] == request["metadata"].get("namespace", "default")
    assert checks.pod_security_violations(objects) == []
    assert checks.chart_values_violations(objects) == []
    assert checks.find_secret_leaks(objects, list(run.files.values())) == []
    assert "kratix" not in run.status
    message = run.status.get("message", "")
    assert message and "\n" not in message, f"status.message must be one line: {message!r}"
    for cond in run.status.get("conditions", []):
        assert set(cond) == {"type", "status", "reason", "message", "lastTransitionTime"}, cond
    for name in run.files:
        assert len(Path(name).name) <= 255


@pytest.mark.parametrize("name", PROMISES)
def test_promise_yaml_is_current(name: str) -> None:
    """A stale promise.yaml or README table means someone forgot `make promises`.

    Built with the image the committed file names: `make promises REGISTRY=... TAG=...` is how a
    platform team points the promises at its registry, and that is no staleness.
    """
    image = promise_document(name)["spec"]["workflows"]["resource"]["configure"][0]["spec"]["containers"][0]["image"]
    for path, content in build.build(name, image=image, platform=settings.load_file()).items():
        current = path.read_text(encoding="utf-8")
        diff = "".join(difflib.unified_diff(current.splitlines(True), content.splitlines(True), "committed", "built"))
        assert current == content, f"{path} is stale; run `make promises`\n{diff[:3000]}"


@pytest.mark.parametrize("name", PROMISES)
def test_promise_is_admissible(name: str) -> None:
    """As Kratix's webhook would: the Promise CRD, the embedded CRD, and the Pipeline rules."""
    document = promise_document(name)
    checks.validate_manifest(document)
    checks.validate_manifest(document["spec"]["api"])
    assert promise_rules.violations(document) == []
    version = document["spec"]["api"]["spec"]["versions"][0]
    assert any(c["jsonPath"] == ".status.message" for c in version["additionalPrinterColumns"])


@pytest.mark.parametrize("name", PROMISES)
def test_promise_configure_output_is_valid(name: str, tmp_path: Path) -> None:
    run = run_subprocess(name, promise_document(name), "promise", "configure", tmp_path)
    assert run.returncode == 0, run.stderr
    for obj in run.objects():
        checks.validate_manifest(obj)
    assert checks.pod_security_violations(run.objects()) == []
    assert checks.chart_values_violations(run.objects()) == []
    assert checks.find_secret_leaks(run.objects(), list(run.files.values())) == []
    assert set(run.status) == {"message"}, "a promise workflow may only set status.message"


def test_privileged_namespaces_are_exactly_those_of_listed_workloads(tmp_path: Path) -> None:
    """A promise labels a namespace privileged only for a workload listed, with its reason, in one place."""
    privileged = set()
    for name in PROMISES:
        run = run_subprocess(name, promise_document(name), "promise", "configure", tmp_path / name)
        privileged |= {
            obj["metadata"]["name"]
            for obj in run.objects()
            if obj["kind"] == "Namespace" and obj["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "privileged"
        }
    assert privileged == {workload.namespace for workload in checks.PRIVILEGED_WORKLOADS}
    assert all(len(workload.reason) > 40 for workload in checks.PRIVILEGED_WORKLOADS)


@pytest.mark.parametrize(("name", "path"), EXAMPLE_CASES)
def test_example_renders_valid_and_idempotent(name: str, path: Path, tmp_path: Path) -> None:
    first = run_subprocess(name, load(path), "resource", "configure", tmp_path / "first")
    check_rendered(first, load(path))
    assert first.selectors, "a request's workload goes to one Destination, chosen by selectors"
    second = run_subprocess(name, load(path), "resource", "configure", tmp_path / "second")
    assert second.files == first.files, "same request, different bytes: churn in the state store"
    assert second.status == first.status


@pytest.mark.parametrize(("name", "path"), EXAMPLE_CASES)
def test_example_matches_golden(name: str, path: Path, tmp_path: Path) -> None:
    run = run_subprocess(name, load(path), "resource", "configure", tmp_path)
    assert run.returncode == 0, run.stderr
    rendered = golden_text(run)
    golden = GOLDEN / name / f"{path.stem}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    assert golden.is_file(), f"{golden} missing; run `make golden`"
    want = golden.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(want.splitlines(True), rendered.splitlines(True), "-want", "+got"))
    assert rendered == want, f"rendered output differs from {golden} (`make golden` regenerates):\n{diff[:4000]}"


def golden_text(run: Run) -> str:
    """One reviewable file: every output file, then the metadata Kratix reads."""
    parts = [f"# --- output/{name}\n{text}" for name, text in sorted(run.files.items())]
    parts.append("# --- metadata/status.yaml\n" + yaml.safe_dump(run.status, sort_keys=False))
    parts.append("# --- metadata/destination-selectors.yaml\n" + yaml.safe_dump(run.selectors, sort_keys=False))
    return "".join(parts)


@pytest.mark.parametrize(("name", "path"), EXAMPLE_CASES)
def test_example_deletes_cleanly(name: str, path: Path, tmp_path: Path) -> None:
    run = run_subprocess(name, load(path), "resource", "delete", tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.files == {}, "Kratix ignores delete output; writing some would mislead"
    assert run.status.get("message", "").startswith("Deleted"), run.status


@pytest.mark.parametrize(("name", "path"), INVALID_CASES)
def test_invalid_example_is_rejected(name: str, path: Path, tmp_path: Path) -> None:
    run = run_subprocess(name, load(path), "resource", "configure", tmp_path)
    want = expected_error(path)
    assert run.returncode != 0
    assert run.stderr == f"error: {want}\n", "one line on stderr, naming the field and the rule"
    assert run.status == {"message": want}
    assert run.files == {} and run.selectors is None, "an invalid request leaves no output"


@pytest.mark.parametrize("name", PROMISES)
def test_enough_invalid_examples(name: str) -> None:
    assert len(invalid_examples(name)) >= 15, "each promise pins at least 15 rejected requests"


def test_every_promise_has_examples() -> None:
    assert PROMISES, "no promise found in promises/"
    for name in PROMISES:
        assert examples(name), f"examples/{name}/ has no request"
