#!/usr/bin/env bash
# Migrate the database to the newest Alembic revision: DATABASE_URL, else the running local stack's.
#   --fallback   no PostgreSQL at hand: migrate a SQLite file, <AITRADER_HOME>/fallback.db, instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AITRADER="$ROOT/.venv/bin/aitrader"
cd "$ROOT"
[[ -x "$AITRADER" ]] || { echo "error: $AITRADER not found: run \`make setup\` first" >&2; exit 1; }

case "${1:-}" in
  "") ;;
  --fallback)
    home="$(realpath -m "${AITRADER_HOME:-.aitrader}")"
    mkdir -p "$home"
    export DATABASE_URL="sqlite:///$home/fallback.db"
    ;;
  *) echo "usage: $0 [--fallback]" >&2; exit 2 ;;
esac
exec "$AITRADER" migrate
