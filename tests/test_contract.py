"""Our contract code against kratix-sdk, the reference: what one writes, the other reads back."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import kratix_sdk as ks
import pytest
import yaml

from harness import ROOT, containers, kratix_env, load, prepare, promise_document
from promisekit import contract

STATUS = {"message": "Workspace at http://a.dev.lab.local", "url": "http://a.dev.lab.local", "port": 5432, "conditions": [{"type": "Ready", "status": "True"}]}
SELECTORS = [contract.Selector(match_labels={"environment": "dev"}), contract.Selector(match_labels={"type": "vcluster", "environment": "staging"}, directory="staging")]


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[contract.Paths]:
    paths = contract.Paths(tmp_path / "input", tmp_path / "output", tmp_path / "metadata")
    for directory in (paths.input, paths.output, paths.metadata):
        directory.mkdir()
    saved = (ks.get_input_dir(), ks.get_output_dir(), ks.get_metadata_dir())
    ks.set_input_dir(paths.input)
    ks.set_output_dir(paths.output)
    ks.set_metadata_dir(paths.metadata)
    yield paths
    ks.set_input_dir(saved[0])
    ks.set_output_dir(saved[1])
    ks.set_metadata_dir(saved[2])


def test_sdk_reads_what_we_write(paths: contract.Paths) -> None:
    result = contract.Result(files={"a.yaml": "kind: A\n", "sub/b.yaml": "kind: B\n"}, status=STATUS, selectors=SELECTORS)
    contract.write_result(paths, result, with_output=True)
    sdk = ks.KratixSDK()
    assert sdk.read_status().to_dict() == STATUS
    assert [(s.directory, s.match_labels) for s in sdk.read_destination_selectors()] == [("", {"environment": "dev"}), ("staging", {"environment": "staging", "type": "vcluster"})]
    assert (paths.output / "sub" / "b.yaml").read_bytes() == b"kind: B\n"


def test_we_read_what_the_sdk_writes(paths: contract.Paths) -> None:
    sdk = ks.KratixSDK()
    sdk.write_output("a.yaml", b"kind: A\n")
    sdk.write_output("sub/b.yaml", b"kind: B\n")
    sdk.write_status(ks.Status(dict(STATUS)))
    sdk.write_destination_selectors([ks.DestinationSelector(match_labels={"environment": "dev"}), ks.DestinationSelector(directory="staging", match_labels={"environment": "staging", "type": "vcluster"})])
    assert contract.read_output(paths) == {"a.yaml": "kind: A\n", "sub/b.yaml": "kind: B\n"}
    assert contract.read_status(paths) == STATUS
    assert contract.read_selectors(paths) == SELECTORS


@pytest.mark.parametrize(
    ("write", "want"),
    [
        pytest.param(lambda sdk: sdk.write_suspend("waiting for approval"), contract.WorkflowControl(suspend=True, message="waiting for approval"), id="suspend"),
        pytest.param(lambda sdk: sdk.write_retry_after(timedelta(minutes=90), "database not ready"), contract.WorkflowControl(retry_after="1h30m", message="database not ready"), id="retry-after"),
    ],
)
def test_workflow_control_round_trip(paths: contract.Paths, write, want: contract.WorkflowControl) -> None:  # type: ignore[no-untyped-def]
    control = paths.metadata / "workflow-control.yaml"
    write(ks.KratixSDK())
    assert contract.read_workflow_control(paths) == want
    theirs = yaml.safe_load(control.read_text(encoding="utf-8"))
    control.unlink()
    contract.write_result(paths, contract.Result(control=want), with_output=True)
    assert yaml.safe_load(control.read_text(encoding="utf-8")) == theirs, "the file Kratix reads is the one the SDK would write"
    assert ks.KratixSDK().read_status().to_dict() == {}, "workflow control writes no status"


def test_the_sdk_sees_the_env_our_harness_gives_a_pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The KRATIX_* variables as the runner and the tests set them are the ones the SDK reads."""
    request = load(ROOT / "examples" / "devenvironment" / "project-alpha.yaml")
    for wtype, action in (("resource", "configure"), ("resource", "delete"), ("promise", "configure")):
        container = containers("devenvironment", wtype, action)[0]
        for key, value in kratix_env("devenvironment", container, request, wtype, action, tmp_path).items():
            monkeypatch.setenv(key, value)
        sdk = ks.KratixSDK()
        assert (sdk.workflow_type(), sdk.workflow_action(), sdk.promise_name()) == (wtype, action, "devenvironment")
        assert (sdk.is_resource_workflow(), sdk.is_configure_action()) == (wtype == "resource", action == "configure")
        assert sdk.pipeline_name() == container_pipeline("devenvironment", wtype, action)
        ours = contract.Workflow.from_env(dict(os.environ))
        assert (ours.type, ours.action, ours.promise_name, ours.pipeline_name) == (sdk.workflow_type(), sdk.workflow_action(), sdk.promise_name(), sdk.pipeline_name())


def container_pipeline(name: str, wtype: str, action: str) -> str:
    return str(promise_document(name)["spec"]["workflows"][wtype][action][0]["metadata"]["name"])


def test_sdk_resource_reader_sees_our_input(paths: contract.Paths) -> None:
    (paths.input / "object.yaml").write_text("apiVersion: platform.homelab.io/v1\nkind: DevEnvironment\nmetadata: {name: a, namespace: team}\nspec: {language: go}\n")
    ours = contract.read_object(paths)
    theirs = ks.KratixSDK().read_resource_input()
    assert (theirs.get_name(), theirs.get_namespace(), theirs.get_value("spec.language")) == (ours["metadata"]["name"], ours["metadata"]["namespace"], ours["spec"]["language"])
    gvk = theirs.get_group_version_kind()
    assert (gvk.group, gvk.version, gvk.kind) == ("platform.homelab.io", "v1", "DevEnvironment")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param("- directory: a/b\n  matchLabels: {x: y}\n", "must be a top-level directory", id="nested-directory"),
        pytest.param("- matchLabels: {}\n", "matchLabels: must not be empty", id="empty-labels"),
        pytest.param("a: b\n", "must be a list", id="not-a-list"),
    ],
)
def test_bad_selectors_are_refused(paths: contract.Paths, content: str, error: str) -> None:
    (paths.metadata / "destination-selectors.yaml").write_text(content)
    with pytest.raises(contract.ContractError, match=error):
        contract.read_selectors(paths)


def test_status_kratix_key_is_refused(paths: contract.Paths) -> None:
    with pytest.raises(contract.ContractError, match="status.kratix"):
        contract.write_result(paths, contract.Result(files={"a.yaml": "x: 1\n"}, status={"kratix": {}}), with_output=True)
    assert contract.read_output(paths) == {}, "nothing written before the refusal"


def test_output_paths_stay_inside_output(paths: contract.Paths) -> None:
    with pytest.raises(contract.ContractError, match="relative path inside"):
        contract.write_result(paths, contract.Result(files={"../escape.yaml": "x: 1\n"}), with_output=True)


def test_hot_path_imports_only_what_it_uses(tmp_path: Path) -> None:
    """kratix-sdk drags in the kubernetes client (about 2 s of CPU under Kratix's 200m limit)."""
    request = load(ROOT / "examples" / "devenvironment" / "project-alpha.yaml")
    container = containers("devenvironment", "resource", "configure")[0]
    prepare(tmp_path, request)
    probe = (
        "import sys; from promisekit.entrypoint import main; code = main(['devenvironment']); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'kratix_sdk', 'jsonschema', 'celpy', 'kubernetes_validate'}); "
        "print(code, heavy)"
    )
    env = kratix_env("devenvironment", container, request, "resource", "configure", tmp_path)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0 []", done.stdout + done.stderr


def test_a_bug_still_ends_in_one_status_line_and_no_output(tmp_path: Path) -> None:
    """A render that raises something else than a request error: one status line for the user, the traceback for the log."""
    request = load(ROOT / "examples" / "devenvironment" / "project-alpha.yaml")
    container = containers("devenvironment", "resource", "configure")[0]
    prepare(tmp_path, request)
    (tmp_path / "output" / "left-over.yaml").write_text("kind: Leftover\n", encoding="utf-8")
    probe = (
        "import sys; import pipelines.devenvironment.render as r; from promisekit.entrypoint import main; "
        "r.SIZES.clear(); sys.exit(main(['devenvironment']))"
    )
    env = kratix_env("devenvironment", container, request, "resource", "configure", tmp_path)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    first, *rest = done.stderr.splitlines()
    assert first == "error: internal error in the devenvironment pipeline: KeyError: 'medium'"
    assert any(line.startswith("Traceback") for line in rest)
    assert (tmp_path / "metadata" / "status.yaml").read_text(encoding="utf-8") == "message: 'internal error in the devenvironment pipeline: KeyError: ''medium'''\n"
    assert list((tmp_path / "output").iterdir()) == []
