# Cybernetic Promises: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/shared:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

# Images: $(REGISTRY)/<name>:$(TAG). The pipeline image's name is the one build.py writes
# into every promise.yaml (`make promises` passes IMAGE).
REGISTRY ?= ghcr.io/cybernetic-promises
TAG ?= v0.1.0
IMAGE ?= $(REGISTRY)/pipeline:$(TAG)
# The official slim Python image, pinned. Where no registry is reachable, the base is made
# from Debian's mirror instead (tools/build-base-image.sh): any BASE_IMAGE under local/ is
# built that way when missing, and the image tier uses LOCAL_BASE_IMAGE unless told otherwise.
BASE_IMAGE ?= python:3.11.14-slim-bookworm
LOCAL_BASE_IMAGE ?= local/debian-python3:bookworm
# Every image `make images` builds. Our promises run only pinned upstream images for their
# workloads, so today that is the pipeline image alone; a service image of our own is one
# more word here and an images/<name>/Dockerfile (its folder is its build context).
IMAGES ?= pipeline
dockerfile = $(if $(filter pipeline,$(1)),Dockerfile,images/$(1)/Dockerfile)
context = $(if $(filter pipeline,$(1)),.,images/$(1))
WHEELS := build/wheels/.downloaded

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Not editable: an editable install adds an import hook to every interpreter start.
	$(PY) -m pip install --quiet --disable-pip-version-check '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv and install the dependencies

promises: venv ## write promises/*/promise.yaml and README tables (IMAGE, REGISTRY, TAG)
	$(PY) -m promisekit.build --image $(IMAGE)

# The image tier runs only in `make test-images`: it needs docker and builds images.
test: venv ## run every check (unit, contract, golden, conformance, property, e2e plan)
	$(PY) -m pytest -q
	@if reason=$$(tools/docker-ready.sh --reason); then \
	  echo "image tier: not run by make test (docker answers here: make test-images builds the images and runs it)"; \
	else \
	  echo "image tier: not run ($$reason; make test-images runs it)"; \
	fi

golden: venv ## regenerate the golden files; review the diff like code
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_conformance.py -k golden

demo: venv ## the Kratix flow on this machine: every promise, every example, into build/state-store
	$(PY) -m promisekit.runner demo

bench: venv ## print BENCH lines: cold start, memory, render throughput, runner, image size (with docker)
	$(PY) tools/bench.py
	$(PY) -m promisekit.runner._bench
	@if reason=$$(tools/docker-ready.sh --reason); then \
	  $(MAKE) --no-print-directory images BASE_IMAGE=$(BENCH_BASE_IMAGE) >/dev/null && \
	  $(PY) tools/bench.py --image-only --image $(IMAGE); \
	else \
	  echo "bench: pipeline_image_mb not measured: $$reason"; \
	fi
# The image bench builds like the image tier: on the local base unless told otherwise.
BENCH_BASE_IMAGE ?= $(LOCAL_BASE_IMAGE)

# The runtime wheels, downloaded once from PyPI for the image's Python (cp311, manylinux):
# the image build itself has no network.
$(WHEELS): Dockerfile | venv
	rm -rf build/wheels
	$(PY) -m pip download -q --disable-pip-version-check --dest build/wheels --only-binary=:all: \
	  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
	  $$(sed -n 's/^ARG REQUIREMENTS="\(.*\)"$$/\1/p' Dockerfile)
	touch $@

wheels: $(WHEELS)

base-image: ## build LOCAL_BASE_IMAGE from Debian's mirror (debootstrap; root), unless it exists
	tools/build-base-image.sh $(LOCAL_BASE_IMAGE)

images: $(addprefix image-,$(IMAGES)) ## build every image the promises use (REGISTRY, TAG, BASE_IMAGE), offline

image: image-pipeline ## build the pipeline image only

# One image: the base first (made locally when it is a local/ name and missing; docker
# pulls any other), then an offline build. Not .PHONY: pattern rules are never phony.
image-%: $(WHEELS)
	@tools/docker-ready.sh
	@case "$(BASE_IMAGE)" in local/*) tools/build-base-image.sh "$(BASE_IMAGE)" ;; esac
	docker build --quiet --network none --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  -f $(call dockerfile,$*) -t $(REGISTRY)/$*:$(TAG) $(call context,$*)

# The image tier: every example request through the real image exactly as Kratix runs it,
# compared byte for byte with the subprocess run. Fails with one line when docker cannot run.
test-images: BASE_IMAGE = $(LOCAL_BASE_IMAGE)
test-images: venv ## build the images (on LOCAL_BASE_IMAGE unless BASE_IMAGE=...) and run the image tier
	@tools/docker-ready.sh || { echo "make test-images: the image tier cannot run here" >&2; exit 1; }
	@awk -v want="$(IMAGE)" '$$1 == "image:" && $$2 == want { found = 1 } END { exit !found }' promises/*/promise.yaml || { \
	  echo "make test-images: promise.yaml names another image than $(IMAGE); run make promises with the same REGISTRY and TAG" >&2; exit 1; }
	$(MAKE) --no-print-directory images BASE_IMAGE=$(BASE_IMAGE)
	IMAGE_TIER=1 $(PY) -m pytest -q tests/test_images.py

install: venv ## apply every promise (requiredPromises first) to the kube context (CONTEXT, else the current); DRY_RUN=1 prints it
	$(PY) -m e2e.install apply $(if $(CONTEXT),--context $(CONTEXT)) $(if $(DRY_RUN),--dry-run)

uninstall: venv ## delete every promise (and so its requests) from the kube context (CONTEXT, else the current)
	$(PY) -m e2e.install delete $(if $(CONTEXT),--context $(CONTEXT)) $(if $(DRY_RUN),--dry-run)

# kind clusters, Kratix (pinned commit), cert-manager, MinIO, Flux, every promise and example,
# then cleanup. Checks its prerequisites first and lists all that is missing.
e2e: venv ## the kind end-to-end suite (needs docker, kind, kubectl, git, go; network); E2E_KEEP=1 keeps the clusters
	$(PY) -m e2e.run --check
	$(MAKE) --no-print-directory images
	$(PY) -m e2e.run --image $(IMAGE)

.PHONY: help venv promises test golden demo bench wheels base-image images image test-images install uninstall e2e
