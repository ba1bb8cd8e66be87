"""`python -m promisekit.runner._bench`: how long 100 DevEnvironment requests take through the runner.

Each engine gets an empty state store with the devenvironment promise installed (not
timed), then one `apply` of 100 distinct requests (timed): every pipeline run, every
schedule and every journaled commit. Prints `BENCH <name> <seconds> s` lines for `make bench`.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

from promisekit.runner._documents import Document, read_documents
from promisekit.runner._engine import REPO_ROOT
from promisekit.runner._runner import DEFAULT_DESTINATIONS, Runner

REQUESTS = 100
PROMISE = REPO_ROOT / "promises" / "devenvironment" / "promise.yaml"
BENCHES = (("runner_apply_100_s", "subprocess"), ("runner_apply_100_inproc_s", "inprocess"))


def requests(count: int = REQUESTS) -> list[Document]:
    """Distinct requests across languages, sizes, namespaces and databases."""
    shapes = itertools.product(("python", "node", "go", "java", "rust"), ("small", "medium", "large"), (False, True))
    documents = []
    for index, (language, size, db) in zip(range(count), itertools.cycle(shapes)):
        obj = {
            "apiVersion": "platform.homelab.io/v1",
            "kind": "DevEnvironment",
            "metadata": {"name": f"bench-{index:03d}", "namespace": f"team-{index % 7}"},
            "spec": {"language": language, "size": size, "db": db},
        }
        documents.append(Document(obj, f"bench-{index:03d}"))
    return documents


def apply_seconds(engine: str, count: int = REQUESTS) -> float:
    with tempfile.TemporaryDirectory(prefix="runner-bench-") as tmp:
        runner = Runner(Path(tmp) / "state", destinations_file=DEFAULT_DESTINATIONS, engine=engine)
        installed = runner.install(read_documents([PROMISE]))
        if not all(o.ok and not o.note for o in installed):
            raise SystemExit(f"bench: the promise did not install: {'; '.join(o.error or o.line() for o in installed)}")
        documents = requests(count)
        began = time.perf_counter()
        outcomes = runner.apply(documents)
        took = time.perf_counter() - began
    # A request that waits (for its promise, for a Destination) ran no pipeline: it must not count.
    failed = [o.error or o.line() for o in outcomes if not o.ok or o.note]
    if failed:
        raise SystemExit(f"bench: {len(failed)} request(s) did not render, first: {failed[0]}")
    return took


def main() -> int:
    for name, engine in BENCHES:
        print(f"BENCH {name} {apply_seconds(engine):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
