#!/usr/bin/env bash
# Snakemake runs this once, inside the new environment, after creating it (--sdm conda).
# It installs the workflow's own package without dependencies (conda provides them), in
# editable mode so the environment always runs the workflow's current code (the rules'
# `code` params rerun what a code change affects). The Snakefile exports
# YL8C4NET_PACKAGE_DIR, the directory that holds pyproject.toml, whatever directory
# Snakemake runs from: a relative path in the env file's pip section would be resolved
# against .snakemake/conda/, where Snakemake copies the file.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation --editable "${YL8C4NET_PACKAGE_DIR:?set by the Snakefile}"
