"""`make promises`: write promises/<name>/promise.yaml and the README's generated tables."""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path
from typing import Any

from promisekit import naming, schema, settings
from promisekit.entrypoint import load_definition
from promisekit.promise import Definition
from promisekit.promise_rules import violations
from promisekit.yamlio import dump_one

PROMISES_DIR = schema.REPO_ROOT / "promises"
DEFAULT_IMAGE = "ghcr.io/cybernetic-promises/pipeline:v0.1.0"
PIPELINE_UID = 65532
_GENERATED = re.compile(r"(<!-- generated:(?P<name>[a-z-]+):begin -->\n).*?(<!-- generated:(?P=name):end -->)", re.S)


def promise_names() -> list[str]:
    """Every promise of the library: the folders of promises/ that have a schema."""
    return sorted(p.name for p in PROMISES_DIR.iterdir() if p.is_dir() and (schema.SCHEMAS_DIR / p.name / "api.yaml").is_file())


def crd(definition: Definition) -> dict[str, Any]:
    api = definition.api
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": api.crd_name},
        "spec": {
            "group": api.group,
            "scope": "Namespaced",
            "names": {
                "kind": api.kind,
                "listKind": f"{api.kind}List",
                "plural": api.plural,
                "singular": api.singular,
                "shortNames": list(api.short_names),
                "categories": ["cybernetic"],
            },
            "versions": [
                {
                    "name": api.version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": _with_name_rule(_without_our_keys(api.schema))},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in api.printer_columns],
                }
            ],
        },
    }


def pipeline(definition: Definition, workflow: str, image: str, platform: dict[str, Any]) -> dict[str, Any]:
    spec = definition.pipelines[workflow]
    return {
        "apiVersion": "platform.kratix.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": spec.name},
        "spec": {
            "containers": [
                {
                    "name": definition.name,
                    "image": image,
                    "command": ["python3", "-m", "promisekit"],
                    "args": [definition.name],
                    "env": [{"name": settings.ENV_VAR, "value": settings.to_env_value(platform)}],
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": PIPELINE_UID,
                        "runAsGroup": PIPELINE_UID,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "resources": {
                        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request, "ephemeral-storage": "64Mi"},
                        "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit, "ephemeral-storage": "256Mi"},
                    },
                }
            ]
        },
    }


def promise(definition: Definition, *, image: str, platform: dict[str, Any]) -> dict[str, Any]:
    workflows: dict[str, Any] = {"resource": {}, "promise": {}}
    for key in definition.pipelines:
        wtype, action = key.split("-")
        workflows[wtype].setdefault(action, []).append(pipeline(definition, key, image, platform))
    return {
        "apiVersion": "platform.kratix.io/v1alpha1",
        "kind": "Promise",
        "metadata": {
            "name": definition.name,
            "labels": {"kratix.io/promise-version": definition.version},
            "annotations": {"platform.homelab.io/description": definition.description},
        },
        "spec": {
            "api": crd(definition),
            **({"destinationSelectors": [{"matchLabels": dict(labels)} for labels in definition.destination_selectors]} if definition.destination_selectors else {}),
            **({"requiredPromises": [{"name": n, "version": v} for n, v in definition.required_promises]} if definition.required_promises else {}),
            "workflows": {k: v for k, v in workflows.items() if v},
        },
    }


def readme_sections(definition: Definition) -> dict[str, str]:
    """The README parts that come from the schema and the render tables, never typed by hand."""
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    rows += [f"| `{f}` | {t} | {f'`{d}`' if d else ''} | {desc} |" for f, t, d, desc in schema.field_rows(definition.api.schema["properties"]["spec"])]
    sections = {"fields": "\n".join(rows) + "\n"}
    module = sys.modules[f"pipelines.{definition.name}"]
    sizes = getattr(module, "SIZES", None) or getattr(getattr(module, "render", None), "SIZES", None)
    if sizes:
        table = ["| size | CPU request / limit | memory request / limit | home volume | database volume |", "| --- | --- | --- | --- | --- |"]
        table += [
            f"| `{n}` | {s.cpu_request} / {s.cpu_limit} | {s.memory_request} / {s.memory_limit} | {s.home_storage} | {s.db_storage} |"
            for n, s in sizes.items()
        ]
        sections["sizes"] = "\n".join(table) + "\n"
    return sections


def fill_readme(text: str, sections: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        return match.group(1) + sections[name] + match.group(3) if name in sections else match.group(0)

    return _GENERATED.sub(replace, text)


def build(name: str, *, image: str, platform: dict[str, Any]) -> dict[Path, str]:
    """The files `make promises` writes for one promise, path to content."""
    definition = load_definition(name)
    document = promise(definition, image=image, platform=platform)
    problems = violations(document)
    if problems:
        raise SystemExit(f"promises/{name}/promise.yaml: {problems[0]}")
    folder = PROMISES_DIR / name
    files = {folder / "promise.yaml": "# Generated by `make promises` from schemas/, pipelines/ and promises/platform-settings.yaml; do not edit.\n" + dump_one(document)}
    readme = folder / "README.md"
    if readme.is_file():
        files[readme] = fill_readme(readme.read_text(encoding="utf-8"), readme_sections(definition))
    return files


# Every name becomes part of object names and a host name: a DNS label, as the pipeline requires.
NAME_RULE = {
    "rule": f"self.metadata.name.matches('{naming.DNS_LABEL.pattern}')",
    "message": "metadata.name: must be a DNS-1123 label (lowercase letters, digits, '-'); a dot would make objects no pipeline can name",
}


def _with_name_rule(openapi: dict[str, Any]) -> dict[str, Any]:
    """The API server refuses a name the pipeline would refuse (a request it cannot render is one
    it cannot delete cleanly either), and a missing spec where the spec has required fields."""
    root = {**openapi, "x-kubernetes-validations": [NAME_RULE, *openapi.get("x-kubernetes-validations", [])]}
    if openapi["properties"]["spec"].get("required"):
        root["required"] = sorted({*openapi.get("required", []), "spec"})
    return root


def _without_our_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_our_keys(v) for k, v in node.items() if k not in schema.OUR_KEYWORDS}
    if isinstance(node, list):
        return [_without_our_keys(v) for v in node]
    return copy.deepcopy(node)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="pipeline image reference")
    parser.add_argument("--check", action="store_true", help="fail when a committed file is stale")
    args = parser.parse_args(argv)
    platform = settings.load_file()
    stale = []
    for name in promise_names():
        for path, content in build(name, image=args.image, platform=platform).items():
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current == content:
                continue
            if args.check:
                stale.append(str(path.relative_to(schema.REPO_ROOT)))
            else:
                path.write_text(content, encoding="utf-8")
                print(f"wrote {path.relative_to(schema.REPO_ROOT)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `make promises`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
