# Cybernetic Promises: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/shared:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

REGISTRY ?= ghcr.io/cybernetic-promises
TAG ?= v0.1.0
IMAGE ?= $(REGISTRY)/pipeline:$(TAG)
BASE_IMAGE ?= python:3.11.14-slim-bookworm

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

test: venv ## run every check (unit, contract, golden, conformance, property)
	$(PY) -m pytest -q

golden: venv ## regenerate the golden files; review the diff like code
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden.py

demo: venv ## the Kratix flow on this machine: every promise, every example, into build/state-store
	$(PY) -m promisekit.runner demo

bench: venv ## print BENCH lines: cold start, memory, render throughput, runner
	$(PY) tools/bench.py
	$(PY) -m promisekit.runner._bench

wheels: venv
	$(PY) -m pip download -q --disable-pip-version-check --dest build/wheels --only-binary=:all: \
	  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
	  $$(sed -n 's/^ARG REQUIREMENTS="\(.*\)"$$/\1/p' Dockerfile)

image: wheels ## build the pipeline image offline (IMAGE, BASE_IMAGE)
	docker build --network none --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

.PHONY: help venv promises test golden demo bench wheels image
