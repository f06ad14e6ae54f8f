#!/usr/bin/env bash
# Stop the local stack and everything it started: `aitrader down`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AITRADER="$ROOT/.venv/bin/aitrader"
cd "$ROOT"
[[ -x "$AITRADER" ]] || { echo "error: $AITRADER not found: run \`make setup\` first" >&2; exit 1; }
exec "$AITRADER" down
