#!/usr/bin/env bash
# Install the system tools the tests use that PyPI does not carry: docker-compose, to validate
# docker-compose.yml without a Docker engine. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "docker-compose is missing and this user cannot install it: apt-get install docker-compose" >&2
  exit 1
fi
echo "installing docker-compose (compose file checker) from Debian packages..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
