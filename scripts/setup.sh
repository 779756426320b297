#!/usr/bin/env bash
# Create .venv (if missing) and install ContentHub with the given extras; build the default model once.
# Used by run.sh and test.sh so both quickstart commands set up the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/pip install -q -e "$spec"
.venv/bin/contenthub models build
