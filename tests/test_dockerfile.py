"""The pipeline image's Dockerfile and .dockerignore, checked statically: no docker needed.

The Dockerfile is parsed the way the builder reads it (continuation lines joined, comments
dropped), the build context is worked out from .dockerignore with Docker's matching rules,
and the pins are compared with pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import re
import shlex
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# Never in the build context, let alone the image.
FORBIDDEN = ("tests", "schemas/upstream", "examples", "promises", ".venv", ".git")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int  # index of the FROM it belongs to; -1 before the first FROM


@lru_cache(maxsize=None)
def instructions() -> tuple[Instruction, ...]:
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue  # comments (and parser directives) never continue an instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending.strip():
        logical.append(pending)
    result, stage = [], -1
    for line in logical:
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        result.append(Instruction(keyword, args.strip(), stage))
    return tuple(result)


def stage_args(stage: int) -> dict[str, str]:
    """ARG defaults visible in a stage (global ones only where re-declared, as in Docker)."""
    globals_ = {}
    for ins in instructions():
        if ins.keyword == "ARG" and ins.stage == -1:
            name, _, value = ins.args.partition("=")
            globals_[name] = _unquote(value)
    values: dict[str, str] = {}
    for ins in instructions():
        if ins.keyword == "ARG" and ins.stage == stage:
            name, sep, value = ins.args.partition("=")
            values[name] = _unquote(value) if sep else globals_.get(name, "")
    return values


def _unquote(value: str) -> str:
    words = shlex.split(value)
    return " ".join(words)


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def final_stage() -> int:
    return max(ins.stage for ins in instructions())


def pip_installs() -> list[list[str]]:
    """The words of every `pip install` command in a RUN, ARG values expanded."""
    commands = []
    for ins in instructions():
        if ins.keyword != "RUN":
            continue
        lexer = shlex.shlex(_expand(ins.args, stage_args(ins.stage)), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token in (";", "&&", "||", "|", "&"):
                if "pip" in words and "install" in words[words.index("pip") :]:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


def pins() -> dict[str, str]:
    """name -> version of each `name==version` that a pip install in the Dockerfile names."""
    found = {}
    for words in pip_installs():
        for word in words:
            if word.startswith("-") or "==" not in word:
                continue
            req = Requirement(word)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{word}: pin with =="
            found[canonicalize_name(req.name)] = spec.version
    return found


def project_dependencies() -> list[Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(dep) for dep in data["project"]["dependencies"]]


# --- .dockerignore, with Docker's rules: last matching line wins, a line that matches a
# folder matches everything in it, `!` lets a path back in.


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


@lru_cache(maxsize=None)
def ignore_patterns() -> tuple[Pattern, ...]:
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        text = os.path.normpath(line).lstrip("/")
        patterns.append(Pattern(text, exclusion, re.compile(_glob_regex(text))))
    return tuple(patterns)


def _glob_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1].replace("[!", "[^"), end + 1
            continue
        elif c == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
            continue
        else:
            out += re.escape(c)
        i += 1
    return out + r"\Z"


def ignored(path: str) -> bool:
    """Whether the path (relative, '/'-separated) is left out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    matched = False
    for pattern in ignore_patterns():
        if any(pattern.regex.match(prefix) for prefix in prefixes):
            matched = not pattern.exclusion
    return matched


@lru_cache(maxsize=None)
def classic_context() -> frozenset[str]:
    """The files the classic builder sends: it does not even walk into a left-out folder
    unless some `!` pattern starts with that folder's path (BuildKit sends a superset)."""
    exceptions = [p.text for p in ignore_patterns() if p.exclusion]
    files = set()
    for folder, dirs, names in os.walk(ROOT):
        rel_folder = Path(folder).relative_to(ROOT).as_posix()
        rel = (lambda name: name) if rel_folder == "." else (lambda name: f"{rel_folder}/{name}")
        kept = []
        for name in dirs:
            path = rel(name)
            if not ignored(path) or any((e + "/").startswith(path + "/") for e in exceptions):
                kept.append(name)
        dirs[:] = kept
        files.update(rel(name) for name in names if not ignored(rel(name)))
    return frozenset(files)


def copy_sources() -> list[str]:
    """The build-context sources of every COPY and ADD (not COPY --from=another stage)."""
    sources = []
    for ins in instructions():
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = shlex.split(ins.args)
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources.extend(os.path.normpath(w).lstrip("/") for w in words[:-1])
    return sources


# --- the tests


def test_base_image_is_an_arg_with_a_pinned_default():
    args = [i for i in instructions() if i.keyword == "ARG" and i.stage == -1 and re.match(r"BASE_IMAGE\b", i.args)]
    assert len(args) == 1, "ARG BASE_IMAGE=<default> must come (once) before the first FROM"
    (arg,) = args
    default = _unquote(arg.args.partition("=")[2])
    assert re.search(r":\d+\.\d+\.\d+", default) or "@sha256:" in default, f"{default}: pin a full version tag or a digest"
    froms = [i.args.split()[0] for i in instructions() if i.keyword == "FROM"]
    assert froms and all(f in ("${BASE_IMAGE}", "$BASE_IMAGE") for f in froms), froms


def test_runs_as_a_numeric_non_root_user():
    users = [i.args for i in instructions() if i.keyword == "USER" and i.stage == final_stage()]
    assert users, "the final stage sets no USER"
    assert re.fullmatch(r"[0-9]+(:[0-9]+)?", users[-1]), f"USER {users[-1]}: must be numeric (runAsNonRoot checks a uid)"
    assert int(users[-1].split(":")[0]) != 0


def test_bytecode_is_compiled_at_build_time_and_never_written_at_run_time():
    runs = " ".join(i.args for i in instructions() if i.keyword == "RUN")
    assert "compileall" in runs
    env = " ".join(i.args for i in instructions() if i.keyword == "ENV" and i.stage == final_stage())
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_copies_nothing_forbidden(forbidden):
    for source in copy_sources():
        assert not (source == forbidden or source.startswith(forbidden + "/")), f"COPY {source}"
    # A COPY of a folder above it (schemas/, .) relies on .dockerignore to leave it out.
    files = (p for p in (ROOT / forbidden).rglob("*") if p.is_file())
    examples = [p.relative_to(ROOT).as_posix() for p in itertools.islice(files, 200)]
    for path in examples + [forbidden, f"{forbidden}/any-file"]:
        assert ignored(path), f"{path}: in the build context"


def test_the_context_holds_what_the_pipelines_read_at_run_time():
    context = classic_context()
    needed = ["schemas/platform-settings/schema.yaml"]
    for package in sorted((ROOT / "pipelines").glob("*/__init__.py")):
        needed.append(f"schemas/{package.parent.name}/api.yaml")
    for folder in ("shared/promisekit", "pipelines"):
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and path.suffix in (".py", ".j2") and "/checks/" not in rel and "/runner/" not in rel:
                needed.append(rel)
    missing = [path for path in needed if path not in context]
    assert not missing, f"left out of the build context by .dockerignore: {missing}"
    for source in copy_sources():
        if not source.startswith("build/"):  # build/wheels is made on the host before a build
            assert any(f == source or f.startswith(source + "/") for f in context), f"COPY {source}: not in the context"


def test_pip_never_reaches_an_index():
    assert pip_installs(), "the Dockerfile installs nothing with pip"
    for words in pip_installs():
        assert "--no-index" in words, " ".join(words)


@pytest.mark.parametrize("dependency", project_dependencies(), ids=str)
def test_every_runtime_dependency_is_installed_at_an_allowed_version(dependency):
    pinned = pins()
    name = canonicalize_name(dependency.name)
    assert name in pinned, f"{dependency}: pyproject.toml needs it, the Dockerfile does not install it"
    assert dependency.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]}: outside {dependency.specifier}"


def test_the_dependencies_own_requirements_are_pinned_too():
    """--no-index installs only what build/wheels holds: each pin's requirements need pins."""
    pinned = pins()
    environment = default_environment() | {"extra": ""}
    for name in pinned:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: nothing to read its requirements from
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(environment):
                assert canonicalize_name(req.name) in pinned, f"{name} requires {req}: not pinned in the Dockerfile"


def test_nothing_is_pinned_that_nothing_needs():
    pinned = set(pins())
    needed = {canonicalize_name(dep.name) for dep in project_dependencies()}
    environment = default_environment() | {"extra": ""}
    frontier = list(needed)
    while frontier:
        try:
            requires = importlib.metadata.requires(frontier.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if (req.marker is None or req.marker.evaluate(environment)) and name not in needed:
                needed.add(name)
                frontier.append(name)
    assert pinned <= needed, f"pinned but not a runtime dependency: {sorted(pinned - needed)}"
