"""An ImmunityTest's Prometheus verify step, run by a Chaos Mesh Task pod: is every value of a
query under a threshold? Prints one PASS or FAIL line; exits 0 on PASS, 1 on FAIL, 2 when it
cannot tell. Standard library only: it runs in a plain Python image, not the pipeline image."""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10


def sample_values(data: dict[str, Any]) -> list[float]:
    """The numbers of an instant query's result: one per series, or the scalar."""
    kind, result = data["resultType"], data["result"]
    if kind == "vector":
        return [float(sample["value"][1]) for sample in result]
    if kind == "scalar":
        return [float(result[1])]
    raise ValueError(f"a {kind} result has no single value per series")


def main() -> int:
    base = os.environ["PROMETHEUS_URL"].rstrip("/")
    below = float(os.environ["BELOW"])
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': os.environ['QUERY']})}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            values = sample_values(json.load(response)["data"])
    except (OSError, ValueError, KeyError) as err:
        print(f"FAIL: cannot evaluate the query at {base}: {err}")
        return 2
    if not values:
        print("FAIL: the query returned no series")
        return 1
    worst = max(values)
    passed = worst < below
    print(f"{'PASS' if passed else 'FAIL'}: worst value {worst:g} of {len(values)} series, threshold {below:g}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
