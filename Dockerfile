# The one pipeline image (design §6): every Pipeline of every promise runs
# `python3 -m promisekit <promise>` from it; Kratix gives the command and args.
#
# No network, not even at build time. The runtime dependencies (pyproject.toml
# [project].dependencies, pinned below to the versions .venv tests with) come as wheels that
# the host downloads once into build/wheels (git-ignored; the only part of build/ in the
# build context), and are installed with --no-index. Build with --network none to prove it:
#
#   .venv/bin/pip download --dest build/wheels --only-binary=:all: \
#       --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
#       $(sed -n 's/^ARG REQUIREMENTS="\(.*\)"$/\1/p' Dockerfile)
#   docker build --network none -t cybernetic/pipeline:dev .
#
# Where no registry is reachable, build the base from Debian's mirror and pass it:
#
#   tools/build-base-image.sh local/debian-python3:bookworm
#   docker build --network none --build-arg BASE_IMAGE=local/debian-python3:bookworm \
#       -t cybernetic/pipeline:dev .
#
# Either base works: both have Python 3.11 as `python3` on PATH (/usr/local/bin in
# python:*-slim, Debian's /usr/bin in the debootstrap one) and `python3 -m pip`; nothing
# here uses ensurepip or a venv. The wheels are cp311: a base with another Python fails at
# pip install, never at run time. No `# syntax=` line: it would pull a BuildKit frontend.

ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS build
# PyYAML and Jinja2 (pyproject.toml), and Jinja2's MarkupSafe.
ARG REQUIREMENTS="PyYAML==6.0.4 Jinja2==3.1.6 MarkupSafe==3.0.4"
COPY build/wheels/ /wheels/
# --target works alike with python:*-slim's pip and Debian's (no PEP 668 refusal for a
# target dir). The manylinux PyYAML wheel carries the libyaml C extension: check that it
# loads, since the pipeline's YAML speed depends on it (CSafeLoader).
RUN python3 -m pip install --no-index --find-links /wheels --only-binary :all: \
        --target /app/deps --no-compile --no-cache-dir --disable-pip-version-check \
        --root-user-action ignore $REQUIREMENTS \
 && PYTHONPATH=/app/deps python3 -c "import yaml, jinja2; assert yaml.__with_libyaml__, 'PyYAML has no libyaml'"
COPY shared/promisekit/ /app/shared/promisekit/
COPY pipelines/ /app/pipelines/
# .dockerignore leaves out schemas/upstream: test data, never in the image.
COPY schemas/ /app/schemas/
# Bytecode for everything, compiled here by the runtime's own interpreter: the root
# filesystem is read-only, so a module without a .pyc would be compiled on every start.
# unchecked-hash: the .pyc is used without stat-ing its source (the image never changes),
# so it stays valid whatever a registry or layer tool does to file timestamps.
# Then every pipeline package must import and find its schema, and the platform-settings
# schema must be there: what .dockerignore or a COPY left out fails the build, not a run.
# Compiled templates too: the root is read-only at run time, so the cache is filled here.
ENV PROMISEKIT_TEMPLATE_CACHE=/app/template-cache
RUN cd /app && PYTHONPATH=/app/shared:/app:/app/deps python3 -B -c "import pathlib; \
from promisekit import components, render; \
assert render.warm_cache(components.TEMPLATES, *pathlib.Path('pipelines').glob('*/templates'))"
RUN python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash /app \
 && chmod -R a+rX,go-w /app \
 && test ! -e /app/schemas/upstream \
 && cd /app && PYTHONPATH=/app/shared:/app:/app/deps python3 -B -c "import pathlib; \
from promisekit import entrypoint, schema; \
[entrypoint.load_definition(p.parent.name).api for p in pathlib.Path('pipelines').glob('*/__init__.py')]; \
assert (schema.SCHEMAS_DIR / 'platform-settings' / 'schema.yaml').is_file(), 'no platform-settings schema'"

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="cybernetic-promises pipeline" \
      org.opencontainers.image.description="Kratix Promise pipelines: python3 -m promisekit <promise>" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /app /app
# PYTHONDONTWRITEBYTECODE: Kratix runs the container with readOnlyRootFilesystem, and all
# the bytecode is already in the image; never try (and fail) to write __pycache__.
# PYTHONNOUSERSITE: import only what the image holds. LANG: the same in both bases.
ENV PYTHONPATH=/app/shared:/app:/app/deps \
    PROMISEKIT_TEMPLATE_CACHE=/app/template-cache \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONNOUSERSITE=1 \
    LANG=C.UTF-8
# Numeric, so Kubernetes' runAsNonRoot can verify it; the same as the Pipelines' runAsUser.
USER 65532:65532
WORKDIR /app
# No ENTRYPOINT: Kratix sets the container's command (python3 -m promisekit) and args (the
# promise), which replace ENTRYPOINT and CMD alike. CMD is what a bare `docker run` does:
# the same entrypoint without a promise, which prints its usage and exits 2.
CMD ["python3", "-m", "promisekit"]
