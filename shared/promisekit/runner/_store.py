"""The state store and the runner's records beside it, changed only through journaled swaps.

Every change is staged in full first (new placement directories, new records), then a
journal naming each swap is written, then the swaps happen: a directory is replaced by
two renames, a record by one. A run interrupted before the journal exists changed
nothing; one interrupted after it is rolled forward when the runner next starts. So the
state store never holds half a Work.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

RECORDS_SUFFIX = ".records"
_JOURNAL_DIR = ".journal"
_JOURNAL = "journal.json"


def records_dir(state: Path) -> Path:
    """The records of a state store live beside it: build/state-store -> build/state-store.records."""
    return state.with_name(state.name + RECORDS_SUFFIX)


class Store:
    """One state store directory and its records, locked for the length of a session."""

    def __init__(self, state: Path) -> None:
        self.state = state.resolve()
        self.records = records_dir(self.state)

    @contextlib.contextmanager
    def session(self) -> Iterator[Store]:
        """Hold the lock, as one API server serialises writes; finish any interrupted commit first."""
        self.records.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.records / "lock", "a+", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._recover()
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self, relative: str) -> Any:
        path = self.records / relative
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def list(self, relative: str) -> list[str]:
        """Record paths under a folder, sorted, each relative to the records root."""
        folder = self.records / relative
        return sorted(p.relative_to(self.records).as_posix() for p in folder.rglob("*.json")) if folder.is_dir() else []

    def transaction(self) -> Transaction:
        return Transaction(self)

    def _recover(self) -> None:
        journal_root = self.records / _JOURNAL_DIR
        if not journal_root.is_dir():
            return
        for tx in sorted(journal_root.iterdir()):
            journal = tx / _JOURNAL
            if journal.is_file():
                _apply(self, tx, json.loads(journal.read_text(encoding="utf-8")))
            shutil.rmtree(tx)


@dataclass
class Transaction:
    """Changes to the state store and the records, applied together by commit()."""

    store: Store
    _trees: dict[Path, Mapping[str, str] | None] = field(default_factory=dict)
    _files: dict[Path, str] = field(default_factory=dict)
    _records: dict[str, Any] = field(default_factory=dict)

    def put_tree(self, target: Path, files: Mapping[str, str]) -> None:
        self._trees[target] = files

    def remove_tree(self, target: Path) -> None:
        self._trees[target] = None

    def put_file(self, target: Path, content: str) -> None:
        self._files[target] = content

    def put_record(self, relative: str, data: Any) -> None:
        self._records[relative] = data

    def remove_record(self, relative: str) -> None:
        self._records[relative] = None

    @property
    def empty(self) -> bool:
        return not self._trees and not self._files and not self._records

    def commit(self) -> None:
        if self.empty:
            return
        tx = self.store.records / _JOURNAL_DIR / f"{time.time_ns():020d}"
        ops: list[dict[str, str | None]] = []
        for index, (target, files) in enumerate(sorted(self._trees.items())):
            staged = None
            if files is not None:
                staged = tx / "new" / str(index)
                for relative, content in sorted(files.items()):
                    _write(staged / relative, content)
            ops.append(_op(self.store, target, staged))
        for index, (target, content) in enumerate(sorted(self._files.items())):
            staged = tx / "files" / str(index)
            _write(staged, content)
            ops.append(_op(self.store, target, staged))
        for index, (relative, data) in enumerate(sorted(self._records.items())):
            staged = None
            if data is not None:
                staged = tx / "records" / str(index)
                _write(staged, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            ops.append(_op(self.store, self.store.records / relative, staged))
        _write(tx / _JOURNAL, json.dumps(ops), atomic=True)
        _apply(self.store, tx, ops)
        shutil.rmtree(tx)
        self._trees.clear()
        self._files.clear()
        self._records.clear()


def _op(store: Store, target: Path, staged: Path | None) -> dict[str, str | None]:
    base = store.state.parent
    return {"target": os.path.relpath(target, base), "staged": os.path.relpath(staged, base) if staged else None}


def _apply(store: Store, tx: Path, ops: list[dict[str, str | None]]) -> None:
    """Do every swap of a journal; safe to repeat after a crash at any point."""
    base = store.state.parent
    for index, op in enumerate(ops):
        target = base / str(op["target"])
        staged = base / op["staged"] if op["staged"] else None
        if staged is not None and not staged.exists():
            continue  # this swap was done before the interruption
        if target.is_dir():
            aside = tx / "old" / str(index)
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, aside)
        if staged is None:
            if target.is_file():
                target.unlink()
            _prune_empty_parents(target.parent, stop=(store.state, store.records))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)


def _prune_empty_parents(folder: Path, *, stop: tuple[Path, ...]) -> None:
    while folder not in stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _write(path: Path, content: str, *, atomic: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not atomic:
        path.write_text(content, encoding="utf-8")
        return
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
