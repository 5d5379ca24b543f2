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
# the browser tests drive Debian's Chromium; Chinese needs the Noto CJK fonts; the OCR
# extra's OpenCV (a RapidOCR requirement) loads libGL and GLib's libgthread
if ! command -v chromium > /dev/null || ! fc-list 2> /dev/null | grep -qi "Noto Sans CJK" \
    || ! /sbin/ldconfig -p | grep -q "libGL.so.1" || ! /sbin/ldconfig -p | grep -q "libgthread-2.0.so.0"; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  { $SUDO apt-get update && $SUDO apt-get install -y chromium fonts-noto-cjk libgl1 libglib2.0-0; } \
    > .venv/apt.log 2>&1 \
    || { cat .venv/apt.log; exit 1; }
fi
pip_install --upgrade pip
pip_install torch==2.13.0
pip_install -e ".[test,st]"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
