"""Works and their scheduling: which Destinations each workload group lands on (kratix.md §2.5).

A Work holds one pipeline's output, split into workload groups by the `directory` entries
of destination-selectors.yaml. Promise-level Works go to every matching Destination; a
resource request's groups go to one. Kratix picks that one at random; the runner picks by
rendezvous hashing of the request's identity, so a run is reproducible, a request's Works
land together, and requests still spread across equal Destinations. Like Kratix, a group
keeps its Destination once placed.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from promisekit.runner._destinations import Destination
from promisekit.runner._workflow import ROOT_DIRECTORY, WorkflowSelector

# Lowest priority first: later sources overwrite earlier ones on a label conflict.
SOURCE_PRIORITY = ("resource-workflow", "promise-workflow", "promise")


@dataclass(frozen=True)
class Scheduling:
    """Labels a Destination must carry, and who asked for them."""

    source: str
    match_labels: Mapping[str, str]


@dataclass
class WorkloadGroup:
    """Files of one output directory and where they are placed."""

    directory: str
    files: dict[str, str]
    scheduling: list[Scheduling] = field(default_factory=list)
    # Destination name -> the WorkPlacement's directory, relative to the state store root.
    placements: dict[str, str] = field(default_factory=dict)
    misplaced: bool = False

    @property
    def id(self) -> str:
        # Kratix: hash.ComputeHash(directory), md5 in hex; the directory name is its first 5.
        return hashlib.md5(self.directory.encode()).hexdigest()

    def selector(self) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for scheduling in sorted(self.scheduling, key=lambda s: SOURCE_PRIORITY.index(s.source)):
            resolved.update(scheduling.match_labels)
        return resolved


@dataclass
class Work:
    """One pipeline's output (or a Promise's spec.dependencies), as Kratix's Work object."""

    name: str
    promise: str
    pipeline: str
    namespace: str = ""
    resource: str = ""
    groups: list[WorkloadGroup] = field(default_factory=list)

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    def directory(self, group: WorkloadGroup) -> str:
        """The WorkPlacement's directory under the Destination path (nestedByMetadata)."""
        if self.is_resource:
            parts = ["resources", self.namespace, self.promise, self.resource, self.pipeline, group.id[:5]]
        else:
            parts = ["dependencies", self.promise, self.pipeline, group.id[:5]]
        return posixpath.join(*[p for p in parts if p])

    def pending(self) -> list[WorkloadGroup]:
        return [g for g in self.groups if not g.placements]

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "promise": self.promise,
            "pipeline": self.pipeline,
            "namespace": self.namespace,
            "resource": self.resource,
            "groups": [
                {
                    "directory": g.directory,
                    "files": g.files,
                    "scheduling": [{"source": s.source, "matchLabels": dict(s.match_labels)} for s in g.scheduling],
                    "placements": g.placements,
                    "misplaced": g.misplaced,
                }
                for g in self.groups
            ],
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Work:
        groups = [
            WorkloadGroup(
                directory=g["directory"],
                files=dict(g["files"]),
                scheduling=[Scheduling(s["source"], dict(s["matchLabels"])) for s in g["scheduling"]],
                placements=dict(g["placements"]),
                misplaced=bool(g["misplaced"]),
            )
            for g in data["groups"]
        ]
        return cls(data["name"], data["promise"], data["pipeline"], data["namespace"], data["resource"], groups)


def work_name(promise: str, pipeline: str, *, resource: str = "", namespace: str = "") -> str:
    """Kratix's Work identifier: <promise>-<pipeline>, or <promise>-<rr>-<ns>-<pipeline>."""
    if not resource:
        return f"{promise}-{pipeline or 'static-deps'}"
    return f"{promise}-{resource}-{namespace}-{pipeline}"


def squash(selectors: Iterable[Mapping[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for labels in selectors:
        merged.update(labels)
    return merged


def build_groups(
    files: Mapping[str, str],
    selectors: Sequence[WorkflowSelector],
    *,
    workflow_source: str,
    inherited: Sequence[Scheduling],
) -> list[WorkloadGroup]:
    """Split output into groups: each `directory` entry ignores the Promise's selectors; the rest
    gets the workflow's root entry plus the inherited Promise-level scheduling."""
    groups: list[WorkloadGroup] = []
    directories = {s.directory for s in selectors if s.directory != ROOT_DIRECTORY}
    for selector in selectors:
        if selector.directory == ROOT_DIRECTORY:
            continue
        prefix = selector.directory + "/"
        own = {path: text for path, text in files.items() if path.startswith(prefix)}
        if own:
            groups.append(WorkloadGroup(selector.directory, own, [Scheduling(workflow_source, selector.match_labels)]))
    rest = {path: text for path, text in files.items() if path.split("/", 1)[0] not in directories or "/" not in path}
    if rest:
        root = [Scheduling(workflow_source, s.match_labels) for s in selectors if s.directory == ROOT_DIRECTORY]
        groups.append(WorkloadGroup(ROOT_DIRECTORY, rest, [*root, *inherited]))
    return groups


def place(work: Work, destinations: Sequence[Destination], previous: Work | None) -> None:
    """Choose each group's Destinations; a placed group stays where it is, as in Kratix."""
    by_name = {d.name: d for d in destinations}
    before = {g.directory: [d for d in g.placements if d in by_name] for g in (previous.groups if previous else [])}
    for group in work.groups:
        selector = group.selector()
        matching = sorted(d.name for d in destinations if d.matches(selector))
        kept = before.get(group.directory, [])
        if work.is_resource:
            if kept:
                chosen = kept[:1]
            else:
                # Keyed by the request, not the pipeline: its Works land together when they can.
                chosen = [_rendezvous(f"{work.promise}/{work.namespace}/{work.resource}/{group.directory}", matching)] if matching else []
        else:
            chosen = sorted(set(matching) | set(kept))
        group.placements = {name: posixpath.join(by_name[name].path, work.directory(group)) if by_name[name].path else work.directory(group) for name in chosen}
        group.misplaced = any(name not in matching for name in chosen)


def _rendezvous(identity: str, candidates: Sequence[str]) -> str:
    return max(candidates, key=lambda name: hashlib.sha256(f"{identity}|{name}".encode()).hexdigest())


def describe_selector(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<any>"
