#!/usr/bin/env bash
# `npm test`: makes sure Postgres and Redis are reachable (starting or installing them as
# `npm start` does), checks format, lint, types and the compose file, then runs every test
# against real services. Stops whatever it had to start.
set -euo pipefail
cd "$(dirname "$0")/.."
export HIKYAKU_ENV=development
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku_test}

started=$(mktemp)
trap 'bash scripts/stop-services.sh "$started"' EXIT
bash scripts/ensure-services.sh --record "$started" hikyaku_test
CHROMIUM_PATH=$(bash scripts/ensure-chromium.sh)
export CHROMIUM_PATH

echo '== format, lint, types'
npx biome check .
npx tsc --noEmit

echo '== docker-compose.yml'
bash scripts/check-compose.sh

echo '== tests'
npx tsx scripts/prepare-test-db.ts
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=2 --test-timeout=180000 "$@" "${files[@]}"
