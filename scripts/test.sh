#!/usr/bin/env bash
# Install zhice with its test dependencies into .venv and run the whole test suite.
# torch is pinned to the CPU build: a bare requirement resolves to a multi-GB CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[test,st]"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
