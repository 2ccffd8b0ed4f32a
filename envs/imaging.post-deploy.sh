#!/usr/bin/env bash
# Install the qmrflow package (no dependencies: the environment pins them) from the checkout
# Snakemake runs in (the repository root, or QMRFLOW_SOURCE).
set -euo pipefail
python -m pip install --no-deps --quiet "${QMRFLOW_SOURCE:-.}"
