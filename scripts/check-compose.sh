#!/usr/bin/env bash
# Validates docker-compose.yml offline (no Docker engine needed): `docker compose config` when the
# compose plugin is there, else docker-compose v1 from Debian (installed on demand as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export HIKYAKU_SECRET=compose-check
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q
else
  if ! command -v docker-compose >/dev/null; then
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || { echo 'docker-compose is needed to validate docker-compose.yml' >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
  fi
  docker-compose -f docker-compose.yml config -q
fi
grep -q 'noeviction' docker-compose.yml && grep -q 'appendonly' docker-compose.yml
echo 'docker-compose.yml is valid'
