"""`make install` / `make uninstall`: every promise of promises/ on the current kube context.

    python -m e2e.install apply|delete [--context NAME] [--dry-run] [--timeout SECONDS]

apply: for each promise, required promises first (spec.requiredPromises), the settings it
needs (the Namespace of a `spec.workflows.config.pipelineNamespace`; the platform settings
themselves are baked into each promise.yaml by `make promises`), then `kubectl apply` of
promises/<name>/promise.yaml and a wait until the Promise is Available. delete: the reverse
order, each Promise deleted and waited for until it is gone (Kratix first deletes every
request of its kind, running their delete pipelines). Fails with one line when kubectl, a
context or Kratix is missing. The steps are plain data (`install_steps`), which the e2e
suite runs too and tests/test_e2e_plan.py checks offline.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from e2e.kube import GONE, Apply, Delete, Mark, Ref, Step, Wait, kubectl, satisfied
from promisekit.build import promise_names

ROOT = Path(__file__).resolve().parents[1]
PROMISES_DIR = ROOT / "promises"
PROMISE_RESOURCE = "promises.platform.kratix.io"
AVAILABLE = "jsonpath={.status.status}=Available"
DEFAULT_TIMEOUT_S = 600


class InstallError(Exception):
    """One line for the user: what is missing or what failed."""


def promise_file(name: str) -> Path:
    return PROMISES_DIR / name / "promise.yaml"


@lru_cache(maxsize=None)
def load_promise(name: str) -> dict[str, Any]:
    path = promise_file(name)
    if not path.is_file():
        raise InstallError(f"{path.relative_to(ROOT)}: missing; run `make promises`")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("kind") != "Promise":
        raise InstallError(f"{path.relative_to(ROOT)}: not a Promise")
    return document


def required(document: Mapping[str, Any]) -> list[str]:
    return [str(r["name"]) for r in document.get("spec", {}).get("requiredPromises", []) or []]


def install_order(documents: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names in apply order: each after the promises it requires, otherwise by name.

    A required promise that is not in this library must already be on the platform (Kratix
    keeps the requiring one Unavailable until it is); a cycle is an error.
    """
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise InstallError(f"requiredPromises form a cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        for dependency in sorted(required(documents[name])):
            if dependency in documents:
                visit(dependency, (*chain, name))
        state[name] = "done"
        order.append(name)

    for name in sorted(documents):
        visit(name, ())
    return order


def settings_manifests(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a promise needs on the platform before it is applied."""
    namespace = document.get("spec", {}).get("workflows", {}).get("config", {}).get("pipelineNamespace")
    if not namespace:
        return []
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]


def install_steps(documents: Mapping[str, Mapping[str, Any]], context: str, *, timeout_s: int = DEFAULT_TIMEOUT_S, timers: bool = False) -> list[Step]:
    steps: list[Step] = []
    for name in install_order(documents):
        document = documents[name]
        if timers:
            steps.append(Mark(f"promise {name}"))
        extra = settings_manifests(document)
        if extra:
            steps.append(Apply(context, tuple(extra), f"{name}: the settings it needs"))
        steps.append(Apply(context, (document,), f"promise {name}"))
        steps.append(Wait((Ref(context, PROMISE_RESOURCE, name),), AVAILABLE, f"promise {name}: Available", timeout_s, timer=f"promise {name}" if timers else ""))
    return steps


def uninstall_steps(documents: Mapping[str, Mapping[str, Any]], context: str, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> list[Step]:
    steps: list[Step] = []
    for name in reversed(install_order(documents)):
        steps.append(Delete(context, (documents[name],), f"promise {name} (and every request of its kind)"))
        steps.append(Wait((Ref(context, PROMISE_RESOURCE, name),), GONE, f"promise {name}: deleted", timeout_s))
    return steps


def library() -> dict[str, dict[str, Any]]:
    return {name: load_promise(name) for name in promise_names()}


# --- execution (kubectl on the current context)


def check_platform(context: str | None) -> str:
    """The context to use, or InstallError saying what is missing."""
    if shutil.which("kubectl") is None:
        raise InstallError("kubectl is not installed (no kubectl on PATH)")
    if not context:
        done = subprocess.run(["kubectl", "config", "current-context"], capture_output=True, text=True, timeout=30)
        context = done.stdout.strip()
        if done.returncode != 0 or not context:
            raise InstallError("no current kube context (kubectl config current-context); pass --context NAME")
    done = subprocess.run(kubectl(context, "get", "crd", PROMISE_RESOURCE, "-o", "name"), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        if "NotFound" in last or "not found" in last:
            raise InstallError(f"Kratix is not installed on context {context} (no CRD {PROMISE_RESOURCE}); README.md, Install on a real Kratix platform, lists what it needs")
        raise InstallError(f"context {context}: the cluster does not answer ({last})")
    return context


def get(ref: Ref) -> dict[str, Any] | None:
    done = subprocess.run(ref.get_argv(), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise InstallError(f"{ref}: {(done.stderr.strip().splitlines() or ['kubectl get failed'])[-1]}")
    return yaml.safe_load(done.stdout) if done.stdout.strip() else None


def wait(step: Wait, *, poll_s: float = 3.0) -> None:
    deadline = time.monotonic() + step.timeout_s
    pending = list(step.refs)
    while pending:
        pending = [ref for ref in pending if not satisfied(step.condition, get(ref))]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise InstallError(f"{step.what}: not {step.condition} after {step.timeout_s} s: {pending[0]}")
        time.sleep(poll_s)


def execute(steps: Sequence[Step], *, dry_run: bool, out: Any = sys.stdout) -> None:
    for step in steps:
        if isinstance(step, Mark):
            continue
        print(("would run: " if dry_run else "") + " ".join(step.argv()) + f"   # {step.what}", file=out, flush=True)
        if dry_run:
            continue
        if isinstance(step, Wait):
            wait(step)
            continue
        stdin = step.stdin() if isinstance(step, (Apply, Delete)) else None
        done = subprocess.run(step.argv(), input=stdin, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise InstallError(f"{step.what}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
        if done.stdout.strip():
            print("  " + done.stdout.strip().replace("\n", "\n  "), file=out, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.install", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("apply", "delete"))
    parser.add_argument("--context", help="kube context (default: the current one)")
    parser.add_argument("--dry-run", action="store_true", help="print the kubectl commands, run nothing")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help=f"seconds per wait (default {DEFAULT_TIMEOUT_S})")
    args = parser.parse_args(argv)
    try:
        documents = library()
        # Empty: kubectl's current context (all a dry run needs; it checks nothing).
        context = (args.context or "") if args.dry_run else check_platform(args.context)
        plan = install_steps if args.action == "apply" else uninstall_steps
        execute(plan(documents, context, timeout_s=args.timeout), dry_run=args.dry_run)
    except InstallError as err:
        print(f"make {'install' if args.action == 'apply' else 'uninstall'}: {err}", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"{len(documents)} promise(s) {'installed' if args.action == 'apply' else 'deleted'} on {context}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
