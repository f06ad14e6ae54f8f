#!/usr/bin/env bash
# Run the stack in containers: `docker compose up -d --build` (or docker-compose), with the variables of
# .env (copy .env.example and set POSTGRES_PASSWORD). Arguments go to `up`, e.g. `dev_up.sh backend`.
# Without a Docker engine, run the same services as local processes: scripts/start_pipeline.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

fail() { echo "error: $*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  fail "neither \`docker compose\` nor \`docker-compose\` is installed; run the stack as local processes" \
       "with scripts/start_pipeline.sh instead"
fi
[[ -f .env ]] || fail ".env is missing: cp .env.example .env and set POSTGRES_PASSWORD in it"
if ! docker info >/dev/null 2>&1; then
  fail "no Docker engine is reachable (\`docker info\` failed): start Docker, or run the stack as local" \
       "processes with scripts/start_pipeline.sh"
fi
"${compose[@]}" -f docker-compose.yml up -d --build "$@"
"${compose[@]}" -f docker-compose.yml ps
