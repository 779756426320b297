#!/usr/bin/env bash
# Quickstart 1: set up, load demo data on the embedded store (first run only) and serve on :8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CONTENTHUB_DATA_DIR="${CONTENTHUB_DATA_DIR:-data}"
if [ ! -f "$CONTENTHUB_DATA_DIR/demo-keys.txt" ]; then
  .venv/bin/contenthub demo
fi
echo
echo "ContentHub: http://127.0.0.1:${PORT:-8000}/  (API docs: /docs)"
echo "Log in with one of these keys ($CONTENTHUB_DATA_DIR/demo-keys.txt):"
sed 's/^/  /' "$CONTENTHUB_DATA_DIR/demo-keys.txt"
exec .venv/bin/contenthub serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
