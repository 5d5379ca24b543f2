#!/usr/bin/env bash
# Install zhice into .venv, index the bundled corpus and answer a sample question.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export ZHICE_INDEX="${ZHICE_INDEX:-$PWD/.zhice-index}"
.venv/bin/zhice ingest corpus
.venv/bin/zhice ask "国家一共支持建设了多少个产业转型升级示范区？"
