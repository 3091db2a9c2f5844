# Set-up and entry points. `make demo` and `make test` are the two commands of the README.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/.yolo
export MPLBACKEND := Agg

.PHONY: demo test test-slow test-slurm lint docs clean-results

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch and torchvision first: this exact pair is served from the machine's local wheel store.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## The main job on the offline default config (simulated survey in a local SAS mirror).
demo: $(VENV)/.installed
	$(BIN)/snakemake --profile profiles/local

## The default test suite (slow tests excluded).
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## Slow tests (kill + --rerun-incomplete resume); they reuse the demo's models.
test-slow: $(VENV)/.installed-test
	test -f results/catalog/catalog.parquet || $(BIN)/snakemake --profile profiles/local
	$(BIN)/python -m pytest -m "slow and not slurm" -p no:cacheprovider

## The demo on a real single-node SLURM cluster, compared with the local run (root; CI).
test-slurm: $(VENV)/.installed-test
	test -f results/catalog/catalog.parquet || $(BIN)/snakemake --profile profiles/local
	bash .ci/slurm-up
	$(BIN)/python -m pytest -m slurm -p no:cacheprovider; rc=$$?; bash .ci/slurm-down; exit $$rc

## Style: ruff (lint and format) on the Python, snakemake --lint and snakefmt on the workflow.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check src workflow/scripts tests benchmarks docs/conf.py
	$(BIN)/ruff format --check src workflow/scripts tests benchmarks docs/conf.py
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

## The documentation site (Sphinx), warnings as errors, into docs/_build/html.
docs: $(VENV)/.installed-test
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean-results:
	rm -rf results resources logs .snakemake
