"""`make e2e`: run the plan (e2e/plan.py) on kind, print the time-to-Ready table, clean up.

    python -m e2e.run --check                 # prerequisites only: lists everything missing
    python -m e2e.run [--image IMAGE] [--keep] [--dry-run]

Phases: build Kratix at the pinned commit; create the kind clusters and load the images;
cert-manager, MinIO, Kratix and the state store on the platform; Flux and the Destinations;
every promise; every example request (waiting for ConfigureWorkflowCompleted and for each
workload to be Ready on its Destination, a vCluster's included); then delete everything and
assert it is gone; finally delete the clusters (unless --keep or E2E_KEEP=1). Waits of one
phase are polled together, so each request's time-to-Ready is its own. Logs and, on
failure, diagnostics go to build/e2e/. Exits 1 with one line saying what failed.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

import yaml

from e2e import plan as plans
from e2e.kube import Apply, ApplyUpstream, Command, Delete, ExpectNone, Mark, Ref, Wait, kubectl, satisfied

ROOT = plans.ROOT
LOG_DIR = plans.BUILD_DIR
POLL_S = 5.0
APPLY_ATTEMPTS = 12  # webhooks come up after their Deployment reports Available
FORWARD_WAIT_S = 30


class E2EError(Exception):
    """What failed, in one line."""


@dataclass(frozen=True)
class Prerequisite:
    name: str
    why: str


PREREQUISITES = (
    Prerequisite("docker", "builds the images and runs kind's nodes (Debian: apt-get install docker.io)"),
    Prerequisite("kind", f"creates the clusters ({plans.KIND_VERSION}: https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"),
    Prerequisite("kubectl", "drives the clusters (v1.33: https://kubernetes.io/docs/tasks/tools/)"),
    Prerequisite("git", f"checks out Kratix at {plans.KRATIX_COMMIT[:12]}"),
    Prerequisite("go", "builds Kratix's distribution (`make distribution`; GOTOOLCHAIN=auto fetches the Go its go.mod names)"),
    Prerequisite("make", "runs Kratix's `make distribution`"),
)


def missing_prerequisites() -> list[str]:
    """Everything this machine lacks for the suite, one line each (empty: ready)."""
    missing = [f"{p.name}: not on PATH; {p.why}" for p in PREREQUISITES if shutil.which(p.name) is None]
    if shutil.which("docker") is not None:
        done = subprocess.run([str(ROOT / "tools" / "docker-ready.sh"), "--reason"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            missing.append(f"docker daemon: {done.stdout.strip()}")
    return missing


def check() -> int:
    missing = missing_prerequisites()
    if not missing:
        print("e2e: prerequisites present (docker, kind, kubectl, git, go, make); it also needs network access to GitHub and the container registries")
        return 0
    print("make e2e: cannot run here; missing:", file=sys.stderr)
    for line in missing:
        print(f"  - {line}", file=sys.stderr)
    print("It also needs network access to GitHub and the container registries; .github/workflows/e2e.yaml runs it.", file=sys.stderr)
    return 1


# --- execution


@dataclass
class Clock:
    started: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)

    def seconds(self, timer: str) -> float | None:
        if timer not in self.started or timer not in self.ready:
            return None
        return self.ready[timer] - self.started[timer]


class Executor:
    def __init__(self, plan: plans.Plan, *, log: Path, dry_run: bool = False) -> None:
        self.plan = plan
        self.dry_run = dry_run
        self.log_path = log
        self.clock = Clock()
        self.forwards: list[subprocess.Popen[str]] = []
        self.connected: set[str] = set()
        self.kubeconfigs: list[str] = []

    # output
    def say(self, text: str) -> None:
        print(text, flush=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(text + "\n")

    def run(self, argv: Sequence[str], *, stdin: str | None = None, cwd: str = "", timeout: int = 3600, check: bool = True) -> subprocess.CompletedProcess[str]:
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write("$ " + " ".join(argv) + "\n")
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, cwd=cwd or None, timeout=timeout)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(done.stdout + done.stderr)
        if check and done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
            raise E2EError(f"{' '.join(argv[:4])}...: {last}")
        return done

    # phases
    def phases(self, phases: Sequence[plans.Phase]) -> None:
        for phase in phases:
            began = time.monotonic()
            self.say(f"== {phase.name}")
            batch: list[Wait] = []
            for step in phase.steps:
                if isinstance(step, Wait):
                    batch.append(step)
                    continue
                self.waits(batch)
                batch = []
                self.step(step)
            self.waits(batch)
            self.say(f"   ({time.monotonic() - began:.0f} s)")

    def step(self, step: Any) -> None:
        if isinstance(step, Mark):
            self.clock.started[step.timer] = time.monotonic()
            return
        self.say(f"-- {step.what}")
        if self.dry_run:
            self.say("   " + " ".join(step.argv()))
            return
        if isinstance(step, Command):
            if step.unless and self.run(step.unless, check=False).returncode == 0:
                self.say("   (already there)")
                return
            self.run(step.argv(), cwd=step.cwd)
        elif isinstance(step, (Apply, Delete)):
            self.retrying(step.argv(), step.stdin())
        elif isinstance(step, ApplyUpstream):
            self.retrying(step.argv(), None)
            self.waits(upstream_waits(step))
        elif isinstance(step, ExpectNone):
            left = self.run(step.argv()).stdout.strip()
            if left:
                raise E2EError(f"{step.what}: still there: {' '.join(left.split())}")
        else:
            raise E2EError(f"unknown step {step!r}")

    def retrying(self, argv: Sequence[str], stdin: str | None) -> None:
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            done = self.run(argv, stdin=stdin, check=attempt == APPLY_ATTEMPTS)
            if done.returncode == 0:
                return
            time.sleep(10)

    def waits(self, waits: Sequence[Wait]) -> None:
        """Poll every ref of every wait until all hold; each timer ends when its last wait holds."""
        if not waits or self.dry_run:
            for w in waits:
                self.say(f"-- wait: {w.what}" + ("\n   " + " ".join(w.argv()) if self.dry_run else ""))
            return
        began = time.monotonic()
        pending = {(i, ref) for i, w in enumerate(waits) for ref in w.refs}
        timers = {w.timer for w in waits if w.timer}
        for w in waits:
            self.say(f"-- wait: {w.what}")
        while True:
            found = self.fetch({ref for _, ref in pending})
            for i, ref in sorted(pending, key=lambda item: (item[0], str(item[1]))):
                if satisfied(waits[i].condition, found.get(ref)):
                    pending.discard((i, ref))
            now = time.monotonic()
            for timer in timers:
                if timer not in self.clock.ready and not any(waits[i].timer == timer for i, _ in pending):
                    self.clock.ready[timer] = now
            if not pending:
                return
            late = [(i, ref) for i, ref in pending if now - began > waits[i].timeout_s]
            if late:
                i, ref = sorted(late, key=lambda item: str(item[1]))[0]
                raise E2EError(f"{waits[i].what}: not {waits[i].condition} after {waits[i].timeout_s} s: {ref} ({len(pending)} still pending)")
            time.sleep(POLL_S)

    def fetch(self, refs: set[Ref]) -> dict[Ref, dict[str, Any]]:
        """The objects that exist, one `kubectl get` per (context, resource, namespace) a round."""
        groups: dict[tuple[str, str, str], list[Ref]] = {}
        for ref in refs:
            groups.setdefault((ref.context, ref.resource, ref.namespace), []).append(ref)
        found: dict[Ref, dict[str, Any]] = {}
        for (context, _, _), members in sorted(groups.items()):
            if context in self.plan.connections and not self.connect(self.plan.connections[context]):
                continue
            done = self.run(members[0].list_argv(), check=False, timeout=120)
            if done.returncode != 0:
                continue  # not served yet (a CRD still coming), or a blip: poll again
            items = {item["metadata"]["name"]: item for item in (yaml.safe_load(done.stdout) or {}).get("items", [])}
            found.update({ref: items[ref.name] for ref in members if ref.name in items})
        return found

    def connect(self, conn: plans.Connection) -> bool:
        """A Destination inside the platform (a vCluster): its kubeconfig Secret, through a port-forward."""
        if conn.context in self.connected:
            return True
        key = conn.secret_key.replace(".", "\\.")
        done = self.run(kubectl(conn.host_context, "get", "secret", conn.secret_name, "-n", conn.secret_namespace, "-o", f"jsonpath={{.data.{key}}}"), check=False)
        if done.returncode != 0 or not done.stdout.strip():
            return False
        config = yaml.safe_load(base64.b64decode(done.stdout.strip()))
        server = urlparse(config["clusters"][0]["cluster"]["server"])
        host = server.hostname or ""
        if host in ("localhost", "127.0.0.1"):
            # The chart's own Secret points at the pod's port; its Service is named after it.
            service, namespace, port = conn.destination, conn.secret_namespace, 443
        else:
            # <service>.<namespace>[.svc...]: an in-cluster address, as a Flux kubeconfig has.
            parts = host.split(".")
            service, namespace, port = parts[0], parts[1] if len(parts) > 1 else conn.secret_namespace, server.port or 443
        forward = subprocess.Popen(list(kubectl(conn.host_context, "port-forward", "-n", namespace, f"svc/{service}", f":{port}")), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.forwards.append(forward)
        assert forward.stdout is not None
        # A port-forward that never answers must not hang the suite: its first line, or give up.
        line = forward.stdout.readline() if select.select([forward.stdout], [], [], FORWARD_WAIT_S)[0] else ""
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            forward.terminate()
            self.forwards.remove(forward)
            return False
        cluster = config["clusters"][0]["cluster"]
        cluster.pop("certificate-authority-data", None)
        cluster.update({"server": f"https://127.0.0.1:{match.group(1)}", "insecure-skip-tls-verify": True})
        # Every entry renamed after the context: two vClusters' kubeconfigs often share names.
        config["clusters"][0]["name"] = config["users"][0]["name"] = conn.context
        config["contexts"][0]["name"] = conn.context
        config["contexts"][0]["context"].update({"cluster": conn.context, "user": conn.context})
        config["current-context"] = conn.context
        path = LOG_DIR / f"kubeconfig-{conn.destination}"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.kubeconfigs.append(str(path))
        default = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        os.environ["KUBECONFIG"] = os.pathsep.join(dict.fromkeys([*default.split(os.pathsep), *self.kubeconfigs]))
        self.connected.add(conn.context)
        self.say(f"   {conn.destination}: reached through {conn.secret_namespace}/{conn.secret_name} ({conn.how})")
        return True

    def close(self) -> None:
        for forward in self.forwards:
            forward.terminate()
            forward.wait(timeout=10)

    def diagnostics(self) -> Path:
        path = LOG_DIR / "diagnostics.txt"
        with path.open("w", encoding="utf-8") as out:
            for cluster in self.plan.clusters:
                for args in (("get", "promises,destinations,bucketstatestores,works,workplacements", "-A"), ("get", "pods,kustomizations,helmreleases,buckets", "-A"), ("get", "events", "-A", "--sort-by=.lastTimestamp")):
                    done = subprocess.run(kubectl(cluster.context, *args), capture_output=True, text=True, timeout=120)
                    out.write(f"$ kubectl --context {cluster.context} {' '.join(args)}\n{done.stdout}{done.stderr}\n")
            namespaces = {"kratix-platform-system", *(ref.namespace or "default" for s in self.plan.steps() if isinstance(s, Wait) for ref in s.refs if ref.context == "kind-platform")}
            for namespace in sorted(namespaces):
                done = subprocess.run(kubectl("kind-platform", "logs", "-n", namespace, "-l", "app.kubernetes.io/managed-by=Kratix", "--all-containers", "--prefix", "--tail=100"), capture_output=True, text=True, timeout=120)
                out.write(f"$ kubectl logs -n {namespace} -l app.kubernetes.io/managed-by=Kratix\n{done.stdout}{done.stderr}\n")
            done = subprocess.run(kubectl("kind-platform", "logs", "-n", "kratix-platform-system", "deployment/kratix-platform-controller-manager", "--all-containers", "--tail=300"), capture_output=True, text=True, timeout=120)
            out.write(f"$ kubectl logs kratix-platform-controller-manager\n{done.stdout}{done.stderr}\n")
        return path


def upstream_waits(step: ApplyUpstream) -> list[Wait]:
    """Every Deployment of an upstream file Available, every Job Complete."""
    source = step.source
    if urlparse(source).scheme in ("http", "https"):
        with urllib.request.urlopen(source, timeout=120) as response:  # noqa: S310 (pinned release URLs)
            text = response.read().decode("utf-8")
    else:
        text = Path(source).read_text(encoding="utf-8")
    refs: dict[str, list[Ref]] = {}
    for obj in yaml.safe_load_all(text):
        if isinstance(obj, dict) and (obj.get("apiVersion"), obj.get("kind")) in (("apps/v1", "Deployment"), ("batch/v1", "Job")):
            condition = "condition=Available" if obj["kind"] == "Deployment" else "condition=Complete"
            refs.setdefault(condition, []).append(plans.ref_of(step.context, obj))
    return [Wait(tuple(r), cond, f"{step.what}: {len(r)} object(s) {cond}", plans.TIMEOUT_INSTALL_S) for cond, r in refs.items()]


def platform_ip(cluster: plans.Cluster) -> str:
    """The platform node's address on kind's docker network: where the workers reach MinIO."""
    done = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", f"{cluster.name}-control-plane"], capture_output=True, text=True, timeout=60)
    addresses = done.stdout.split()
    if done.returncode != 0 or not addresses:
        raise E2EError(f"cannot find the address of {cluster.name}-control-plane: {done.stderr.strip()}")
    return addresses[0]


def table(plan: plans.Plan, clock: Clock) -> str:
    """Time-to-Ready per promise (the promise itself, then its requests), and per request."""
    rows = [["PROMISE", "PROMISE READY", "REQUESTS", "MEDIAN REQUEST", "SLOWEST REQUEST"]]
    detail = [["PROMISE", "REQUEST", "READY"]]
    fmt = lambda value: "-" if value is None else f"{value:.0f} s"  # noqa: E731
    for promise in dict.fromkeys(plan.timers.values()):
        own = clock.seconds(f"promise {promise}")
        requests = {t: clock.seconds(t) for t, p in plan.timers.items() if p == promise and not t.startswith("promise ")}
        times = [v for v in requests.values() if v is not None]
        slowest = max(requests, key=lambda t: requests[t] or 0.0) if times else ""
        rows.append([promise, fmt(own), str(len(requests)), fmt(statistics.median(times)) if times else "-", f"{fmt(requests[slowest])} ({slowest.split(' ', 1)[1]})" if times else "-"])
        detail += [[promise, t.split(" ", 1)[1], fmt(v)] for t, v in requests.items()]

    def render(data: list[list[str]]) -> str:
        widths = [max(len(r[i]) for r in data) for i in range(len(data[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in data)

    return f"time to Ready\n{render(rows)}\n\n{render(detail)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.run", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the prerequisites")
    parser.add_argument("--image", help="the pipeline image (must be what promise.yaml names; `make e2e` builds it)")
    parser.add_argument("--keep", action="store_true", default=os.environ.get("E2E_KEEP") == "1", help="keep the kind clusters")
    parser.add_argument("--dry-run", action="store_true", help="print every step, run nothing (no prerequisites needed)")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    if not args.dry_run and check() != 0:
        return 1
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / "e2e.log"
    log.write_text("", encoding="utf-8")
    settings = plans.Settings()
    executor: Executor | None = None
    began = time.monotonic()
    try:
        first = plans.render(settings, "<platform-ip>")
        images = {step.argv()[3] for step in first.steps() if isinstance(step, Command) and step.argv()[:3] == ("kind", "load", "docker-image")}
        if args.image and args.image not in images:
            raise E2EError(f"{args.image}: promise.yaml names {sorted(images)}; build with the same REGISTRY and TAG as `make promises`")
        executor = Executor(first, log=log, dry_run=args.dry_run)
        executor.phases(first.phases[:2])
        address = "<platform-ip>" if args.dry_run else platform_ip(first.clusters[0])
        plan = plans.render(settings, address)
        executor.plan = plan
        executor.phases(plan.phases[2:])
        executor.say("\n" + table(plan, executor.clock))
        if not args.keep and not args.dry_run:
            executor.phases([plans.Phase("delete the kind clusters", list(plans.teardown(plan.clusters)))])
    except (E2EError, plans.PlanError, subprocess.TimeoutExpired, OSError) as err:
        where = ""
        if executor is not None and not args.dry_run:
            executor.say("\n" + table(executor.plan, executor.clock))
            try:
                where = f"; diagnostics in {executor.diagnostics().relative_to(ROOT)}"
            except (OSError, subprocess.SubprocessError):
                pass
        print(f"make e2e: {err}{where} (log: {log.relative_to(ROOT)})", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.close()
    print("e2e: dry run, nothing ran" if args.dry_run else f"e2e: passed in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
