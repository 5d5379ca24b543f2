#!/usr/bin/env bash
# Install zhice with its test dependencies into .venv and run the whole test suite.
# torch is pinned to the CPU build: a bare requirement resolves to a multi-GB CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# pip's own chatter goes to a log, shown only when an install fails
pip_install() {
  .venv/bin/python -m pip install --quiet "$@" > .venv/pip.log 2>&1 || { cat .venv/pip.log; exit 1; }
}
pip_install --upgrade pip
pip_install torch==2.13.0
pip_install -e ".[test,st]"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
