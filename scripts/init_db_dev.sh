#!/usr/bin/env bash
# Start the local stack's PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL are set) and
# migrate the database, without starting any service. `scripts/stop_pipeline.sh` stops them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AITRADER="$ROOT/.venv/bin/aitrader"
cd "$ROOT"
[[ -x "$AITRADER" ]] || { echo "error: $AITRADER not found: run \`make setup\` first" >&2; exit 1; }
exec "$AITRADER" up --infra-only
