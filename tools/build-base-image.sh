#!/usr/bin/env bash
# Build a local Debian bookworm base image with python3, for machines that reach Debian's
# mirror but no container registry (so `FROM python:3.11-slim-bookworm` cannot be pulled):
#
#   tools/build-base-image.sh local/debian-python3:bookworm
#   docker build --build-arg BASE_IMAGE=local/debian-python3:bookworm ...   (see Dockerfile)
#
# debootstrap --variant=minbase bookworm, plus python3 (Debian's 3.11, /usr/bin/python3),
# python3-pip, python3-venv and ca-certificates, imported with `docker import`.
# Idempotent: does nothing when the image already exists (`docker image rm` it to rebuild).
# Needs root, docker and debootstrap (installed with apt-get when missing).
#
# The mirror is, in order: $MIRROR; the URI of the first apt source that serves the suite
# bookworm (/etc/apt/sources.list, sources.list.d/*.list and *.sources); deb.debian.org.
set -euo pipefail

usage="usage: $0 NAME[:TAG]   e.g. $0 local/debian-python3:bookworm"
[[ $# -eq 1 && -n $1 ]] || { echo "$usage" >&2; exit 2; }
image=$1
# A reference without a tag (the part after the last '/' has no ':') means :latest.
[[ ${image##*/} == *:* ]] || image="$image:latest"
suite=bookworm

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image: exists, nothing to do"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "$0: debootstrap needs root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
    apt-get install -y --no-install-recommends debootstrap
fi

apt_mirror() {
    # One-line format: deb [options] URI SUITE COMPONENTS...
    local file line uri suites
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] || continue
        while read -r line; do
            line=$(sed -E 's/#.*//; s/\[[^]]*\]//' <<<"$line")
            read -r -a words <<<"$line"
            if [[ ${#words[@]} -ge 3 && ${words[0]} == deb && ${words[2]} == "$suite" ]]; then
                echo "${words[1]}"
                return
            fi
        done <"$file"
    done
    # deb822 format: paragraphs of Types/URIs/Suites fields.
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$suite" '
            /^[[:space:]]*$/ { if (deb && found && uri != "") { print uri; exit } deb = found = 0; uri = ""; next }
            /^#/ { next }
            tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            END { if (deb && found && uri != "") print uri }
        ' "$file" | head -n1)
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
    echo "http://deb.debian.org/debian"
}
mirror=${MIRROR:-$(apt_mirror)}

root=$(mktemp -d /var/tmp/base-image.XXXXXX)
cleanup() {
    # debootstrap mounts /proc and /sys inside the target; never let rm reach the host's.
    local mnt
    { grep -o " $root/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mnt; do umount -l "$mnt" || true; done
    rm -rf --one-file-system "$root" || true
}
trap cleanup EXIT

echo "$image: debootstrap $suite from $mirror"
keyring=()
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
    keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
debootstrap --variant=minbase "${keyring[@]}" \
    --include=python3,python3-pip,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror"

# Nothing an image needs: downloaded .debs, package lists, logs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --message "debootstrap --variant=minbase $suite from $mirror (tools/build-base-image.sh)" \
    - "$image"
echo "$image: $(docker run --rm --network none "$image" python3 --version)"
