#!/usr/bin/env bash
# Start the local stack as processes: `aitrader up [SERVICES...]` (every registered service by default).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AITRADER="$ROOT/.venv/bin/aitrader"
cd "$ROOT"
[[ -x "$AITRADER" ]] || { echo "error: $AITRADER not found: run \`make setup\` first" >&2; exit 1; }
exec "$AITRADER" up "$@"
