"""`python -m promisekit.runner VERB ...`: kubectl-like verbs against the local platform."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from promisekit.errors import PromiseKitError
from promisekit.runner._documents import read_documents
from promisekit.runner._engine import ENGINE_NAMES, REPO_ROOT
from promisekit.runner._records import Outcome, PromiseState, RequestView
from promisekit.runner._runner import DEFAULT_DESTINATIONS, DEFAULT_STATE, Runner
from promisekit.runner._store import records_dir
from promisekit.yamlio import dump_one

EXIT_FAILED = 1
PROMISES_DIR = REPO_ROOT / "promises"
EXAMPLES_DIR = REPO_ROOT / "examples"


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    progress = (lambda message: None) if args.quiet else (lambda message: print(message, file=err, flush=True))
    try:
        runner = Runner(args.state, destinations_file=args.destinations, engine=args.engine, progress=progress)
        return int(args.handler(runner, args, out, err))
    except PromiseKitError as error:
        print(f"error: {error}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted (the state store is as it was before the last commit)", file=err)
        return 130


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state", type=Path, default=DEFAULT_STATE, help=f"state store directory (default {DEFAULT_STATE.relative_to(REPO_ROOT)}; records go beside it)")
    common.add_argument("--destinations", type=Path, default=DEFAULT_DESTINATIONS, help="file of Destination objects")
    common.add_argument("--engine", choices=ENGINE_NAMES, default="subprocess", help="how pipeline containers run (default subprocess)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    parser = argparse.ArgumentParser(prog="python -m promisekit.runner", description="The Kratix flow on a laptop: no cluster, no Docker.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    for name, handler, help_text in (
        ("install", _install, "install Promises (a promise.yaml, or a directory of them)"),
        ("apply", _apply, "apply Promises, Destinations and requests"),
        ("delete", _delete, "delete what the files describe (running delete pipelines)"),
    ):
        sub = verb(name, handler, help_text)
        sub.add_argument("-f", "--filename", type=Path, action="append", required=True, help="file or directory (repeatable)")
        sub.add_argument("-R", "--recursive", action="store_true", help="read directories recursively")
    get = verb("get", _get, "list requests: name, status, message, conditions, destination")
    get.add_argument("kind", nargs="?", help="kind, plural, short name, or promises")
    get.add_argument("name", nargs="?")
    get.add_argument("-n", "--namespace", help="only this namespace (default: all)")
    describe = verb("describe", _describe, "one request or promise: status, conditions, files per Destination")
    describe.add_argument("kind")
    describe.add_argument("name")
    describe.add_argument("-n", "--namespace", default="default")
    verb("destinations", _destinations, "list the registered Destinations")
    reconcile = verb("reconcile", _reconcile, "re-run a workflow from its first pipeline; with no KIND, run every due retryAfter")
    reconcile.add_argument("kind", nargs="?")
    reconcile.add_argument("name", nargs="?")
    reconcile.add_argument("-n", "--namespace", default="default")
    resume = verb("resume", _resume, "continue a suspended workflow from the pipeline that suspended it")
    resume.add_argument("kind")
    resume.add_argument("name")
    resume.add_argument("-n", "--namespace", default="default")
    verb("demo", _demo, "from an empty state store: install every promise, apply every example, summarise")
    return parser


def _report(outcomes: Sequence[Outcome], out: TextIO, err: TextIO) -> int:
    failed = False
    for outcome in outcomes:
        if outcome.ok:
            print(outcome.line(), file=out)
        else:
            failed = True
            print(f"error: {outcome.error}", file=err)
    return EXIT_FAILED if failed else 0


def _install(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    paths = [_promise_files(p) for p in args.filename]
    return _report(runner.install(read_documents([f for group in paths for f in group])), out, err)


def _promise_files(path: Path) -> list[Path]:
    """A promise.yaml, or every promise.yaml in a directory (promises/ holds one per folder)."""
    if path.is_dir():
        return sorted(path.rglob("promise.yaml"))
    return [path]


def _apply(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _report(runner.apply(read_documents(args.filename, recursive=args.recursive)), out, err)


def _delete(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _report(runner.delete(read_documents(args.filename, recursive=args.recursive)), out, err)


def _reconcile(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    outcomes = runner.reconcile(args.kind, args.name, args.namespace)
    if not outcomes:
        print("nothing to reconcile: no retryAfter is due", file=out)
    return _report(outcomes, out, err)


def _resume(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return _report(runner.resume(args.kind, args.name, args.namespace), out, err)


def _get(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.kind and args.kind.lower() in ("promise", "promises", "promises.platform.kratix.io"):
        promises = [p for p in runner.promises() if args.name in (None, p.name)]
        rows = [["NAME", "STATUS", "KIND", "API VERSION", "MESSAGE"]]
        rows += [[p.name, str(p.status.get("status", "")), str(p.status.get("kind", "")), str(p.status.get("apiVersion", "")), str(p.status.get("message", ""))] for p in promises]
        print(_table(rows) if promises else "No resources found", file=out)
        return 0
    views = runner.get(args.kind, args.name, args.namespace)
    if not views:
        print("No resources found", file=out)
        return 0
    header = ["NAMESPACE", "NAME", "STATUS", "MESSAGE", "CONDITIONS", "DESTINATION"]
    with_kind = args.kind is None
    rows = [(["KIND"] if with_kind else []) + header]
    for view in views:
        row = [view.request.namespace, view.request.name, view.reconciled, view.message, _conditions(view.request.status), _destination(view)]
        rows.append(([view.api.kind] if with_kind else []) + row)
    print(_table(rows), file=out)
    return 0


def _conditions(status: dict[str, Any]) -> str:
    return ",".join(f"{c['type']}={c['status']}" for c in status.get("conditions") or []) or "<none>"


def _destination(view: RequestView) -> str:
    if view.pending():
        return "<pending>"
    return ",".join(view.files()) or "<none>"


def _describe(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.kind.lower() in ("promise", "promises", "promises.platform.kratix.io"):
        promise = next((p for p in runner.promises() if p.name == args.name), None)
        if promise is None:
            print(f'error: promises.platform.kratix.io "{args.name}" not found', file=err)
            return EXIT_FAILED
        print(_describe_promise(promise, runner), end="", file=out)
        return 0
    view = runner.get(args.kind, args.name, args.namespace)[0]
    print(_describe_request(view), end="", file=out)
    return 0


def _describe_request(view: RequestView) -> str:
    request = view.request
    obj = request.obj
    lines = [
        f"Name:          {request.name}",
        f"Namespace:     {request.namespace}",
        f"API Version:   {obj['apiVersion']}",
        f"Kind:          {view.api.kind}",
        f"Promise:       {request.promise}",
        f"Generation:    {obj['metadata'].get('generation', 1)}",
        f"Labels:        {_labels(obj['metadata'].get('labels'))}",
        "Spec:",
        *_indented(dump_one(obj.get("spec") or {})),
        "Status:",
        *_indented(dump_one({k: v for k, v in request.status.items() if k != "conditions"})),
        "Conditions:",
        *_indented(_table([["TYPE", "STATUS", "REASON", "MESSAGE"]] + [[c["type"], c["status"], c.get("reason", ""), c.get("message", "")] for c in request.status.get("conditions") or []])),
        "Pipelines:",
        *_pipelines(request.workflow.phases, request.workflow.messages, request.workflow.failure),
        "Files (per Destination):",
        *_files(view.files(), view.pending()),
    ]
    return "\n".join(lines) + "\n"


def _describe_promise(promise: PromiseState, runner: Runner) -> str:
    placed: dict[str, list[str]] = {}
    for work in promise.works.values():
        for group in work.groups:
            for destination, directory in group.placements.items():
                placed.setdefault(destination, []).extend(f"{directory}/{p}" for p in sorted(group.files))
    api = promise.api
    requests = len(runner.get(api.kind)) if api else 0
    lines = [
        f"Name:          {promise.name}",
        f"Version:       {promise.manifest['metadata'].get('labels', {}).get('kratix.io/promise-version', '<none>')}",
        f"API:           {f'{api.kind} ({api.resource})' if api else '<none>'}",
        f"Requests:      {requests}",
        "Status:",
        *_indented(dump_one({k: v for k, v in promise.status.items() if k != "conditions"})),
        "Conditions:",
        *_indented(_table([["TYPE", "STATUS", "REASON", "MESSAGE"]] + [[c["type"], c["status"], c.get("reason", ""), c.get("message", "")] for c in promise.status.get("conditions") or []])),
        "Pipelines:",
        *_pipelines(promise.workflow.phases, promise.workflow.messages, promise.workflow.failure),
        "Files (per Destination):",
        *_files({k: sorted(v) for k, v in sorted(placed.items())}, []),
    ]
    return "\n".join(lines) + "\n"


def _pipelines(phases: dict[str, str], messages: dict[str, str], failure: str) -> list[str]:
    if not phases:
        return ["  <none>"]
    rows = [[name, phase, messages.get(name, "") or (failure if phase == "Failed" else "")] for name, phase in phases.items()]
    return _indented(_table(rows))


def _files(placed: dict[str, list[str]], pending: list[str]) -> list[str]:
    lines = []
    for destination, paths in placed.items():
        lines.append(f"  {destination}:")
        lines += [f"    {path}" for path in paths]
    lines += [f"  <pending> {reason}" for reason in pending]
    return lines or ["  <none>"]


def _destinations(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rows = [["NAME", "LABELS", "PATH", "STRICT", "SOURCE"]]
    rows += [[d.name, d.label_text(), d.path or ".", str(d.strict_match_labels).lower(), d.source] for d in runner.destinations()]
    print(_table(rows), file=out)
    return 0


def _demo(runner: Runner, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Install every promise, apply every example request, and show where each one landed."""
    began = time.monotonic()
    _clear(runner.store.state)
    promise_files = sorted(PROMISES_DIR.glob("*/promise.yaml"))
    requests = sorted(
        p for p in EXAMPLES_DIR.glob("*/*.yaml") if p.resolve() != DEFAULT_DESTINATIONS.resolve() and p.resolve() != args.destinations.resolve()
    )
    code = _report(runner.install(read_documents(promise_files)), out, err)
    code = max(code, _report(runner.apply(read_documents(requests)), out, err))
    views = runner.get()
    print(file=out)
    rows = [["REQUEST", "DESTINATION", "FILES", "STATUS", "MESSAGE"]]
    for view in views:
        files = view.files()
        rows.append([
            f"{view.api.kind} {view.request.namespace}/{view.request.name}",
            ",".join(files) or "<pending>",
            str(sum(len(paths) for paths in files.values())),
            view.reconciled,
            view.message,
        ])
    print(_table(rows), file=out)
    for view in views:
        print(f"\n{view.api.kind} {view.request.namespace}/{view.request.name}:", file=out)
        for directory, names in _by_directory(view).items():
            print(f"  {directory}/", file=out)
            print(f"    {'  '.join(names)}", file=out)
        for reason in view.pending():
            print(f"  <pending> {reason}", file=out)
    total = sum(1 for p in runner.store.state.rglob("*") if p.is_file())
    print(f"\n{len(promise_files)} promise(s), {len(views)} request(s), {total} files in {runner.store.state} ({time.monotonic() - began:.1f} s)", file=out)
    return code


def _by_directory(view: RequestView) -> dict[str, list[str]]:
    """Each WorkPlacement directory the request wrote, with its file names."""
    folders: dict[str, list[str]] = {}
    for paths in view.files().values():
        for path in paths:
            directory, _, name = path.rpartition("/")
            folders.setdefault(directory, []).append(name)
    return folders


def _clear(state: Path) -> None:
    """Empty a state store and its records; refuse a directory the runner did not create."""
    records = records_dir(state)
    if state.exists() and any(state.iterdir()) and not records.is_dir():
        raise PromiseKitError(f"refusing to clear {state}: it is not empty and has no {records.name} beside it")
    for folder in (state, records):
        if folder.exists():
            shutil.rmtree(folder)


def _labels(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _indented(text: str) -> list[str]:
    return [f"  {line}" for line in text.rstrip("\n").splitlines()] if text.strip() not in ("", "{}") else ["  <none>"]


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)

