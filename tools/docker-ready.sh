#!/usr/bin/env bash
# Whether this machine can run containers: exit 0 in silence when the docker daemon answers,
# else print one line saying why and exit 1. Used by `make test-images` (fails with that
# line), `make test` (prints that the image tier did not run), `make bench` and `make e2e`.
#
#   tools/docker-ready.sh            # the reason on stderr when docker cannot run
#   tools/docker-ready.sh --reason   # the reason on stdout (for a message of the caller's)
set -uo pipefail

say() { if [[ ${1:-} == --reason ]]; then echo "$2"; else echo "$2" >&2; fi; }
mode=${1:-}

if ! command -v docker >/dev/null 2>&1; then
    say "$mode" "docker is not installed (no docker on PATH; .ci/run installs Debian's docker.io)"
    exit 1
fi
# The server's version, not the client's: only the daemon can build and run.
if ! out=$(timeout 30 docker version --format '{{.Server.Version}}' 2>&1); then
    reason=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)
    say "$mode" "the docker daemon is not reachable (${reason:-no answer}); start it: dockerd > /tmp/dockerd.log 2>&1 &"
    exit 1
fi
exit 0
