#!/usr/bin/env bash
# Make this machine able to build and run images, for the image tier (`make test-images`):
# install Debian's docker.io and debootstrap when missing, start dockerd when no daemon
# answers, and wait for it (up to $DOCKER_WAIT_S, default 60 s). Run by .ci/run on a fresh
# Debian machine as root; a no-op where docker already answers. On failure it prints why
# (and the end of the daemon's log) and exits 1.
#
# DOCKERD_ARGS adds daemon flags; with DOCKER_HOST=unix:///PATH set too, a second daemon can
# be tried beside a running one (how this script was tested from a clean state):
#   DOCKER_HOST=unix:///tmp/d2.sock DOCKERD_ARGS="--host unix:///tmp/d2.sock --data-root /tmp/d2 \
#     --exec-root /tmp/d2x --pidfile /tmp/d2.pid --bridge none --iptables=false" tools/start-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
wait_s=${DOCKER_WAIT_S:-60}
log=${DOCKERD_LOG:-/tmp/dockerd.log}

if tools/docker-ready.sh 2>/dev/null; then
    echo "docker: the daemon answers (server $(docker version --format '{{.Server.Version}}'))"
    exit 0
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "docker: ${missing[*]} missing and not root: cannot apt-get install" >&2; exit 1; }
    echo "docker: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! tools/docker-ready.sh 2>/dev/null; then
    [[ $(id -u) -eq 0 ]] || { echo "docker: no daemon answers and not root: cannot start dockerd" >&2; exit 1; }
    echo "docker: starting dockerd (log: $log)"
    # setsid: the daemon outlives this script (and the make that ran it), as a service would.
    # shellcheck disable=SC2086
    setsid dockerd ${DOCKERD_ARGS:-} >"$log" 2>&1 < /dev/null &
    pid=$!
    for ((i = 0; i < wait_s; i++)); do
        tools/docker-ready.sh 2>/dev/null && break
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "docker: dockerd exited at start; the end of $log:" >&2
            tail -n 15 "$log" >&2
            exit 1
        fi
        sleep 1
    done
fi
if ! reason=$(tools/docker-ready.sh --reason); then
    echo "docker: no answer after ${wait_s} s: $reason; the end of $log:" >&2
    tail -n 15 "$log" >&2 || true
    exit 1
fi
echo "docker: the daemon answers (server $(docker version --format '{{.Server.Version}}'))"
