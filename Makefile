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

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv and install the dependencies

promises: venv ## write promises/*/promise.yaml and README tables (IMAGE, REGISTRY, TAG)
	$(PY) -m promisekit.build --image $(IMAGE)

test: venv ## run every check (unit, contract, golden, conformance, property)
	$(PY) -m pytest -q

golden: venv ## regenerate the golden files; review the diff like code
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/test_golden.py

.PHONY: help venv promises test golden
