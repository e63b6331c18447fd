#!/usr/bin/env bash
# `npm start`: everything needed for a working Hikyaku on this machine, then API + worker
# (+ the dev inbox as relay unless SMTP_RELAY_URL is set). Environment variables always win.
set -euo pipefail
cd "$(dirname "$0")/.."
export HIKYAKU_ENV=${HIKYAKU_ENV:-development}
PORT=${PORT:-3000}

bash scripts/ensure-services.sh hikyaku
[[ -f dist/.built && -z $(find src -newer dist/.built \( -name '*.ts' -o -name '*.liquid' -o -name '*.css' \) -print -quit) ]] || npm run --silent build
node bin/hikyaku.js migrate
KEY=$(node bin/hikyaku.js dev-key)

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
trap 'exit 0' INT TERM

if [[ ${DELIVERY_MODE:-relay} == mx ]]; then
  relay="each recipient domain's MX hosts (DELIVERY_MODE=mx)"
elif [[ -z ${SMTP_RELAY_URL:-} ]]; then
  node bin/hikyaku.js dev-inbox &
  pids+=($!)
  relay="the dev inbox: every message lands as an .eml file under var/inbox/"
else
  relay="$SMTP_RELAY_URL"
fi
node bin/hikyaku.js all &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "hikyaku did not start; see the log above" >&2; exit 1; }
  sleep 0.2
done

cat <<BANNER

  Hikyaku is running: API http://127.0.0.1:$PORT (reference: http://127.0.0.1:$PORT/docs)
  Mail goes to $relay

  Development API key:
    $KEY

  Send an email:
    curl -sS http://127.0.0.1:$PORT/v1/emails \\
      -H 'Authorization: Bearer $KEY' \\
      -H 'Content-Type: application/json' \\
      -d '{"from":"Hikyaku <hello@example.com>","to":"you@example.com","subject":"Hello from Hikyaku","text":"It works."}'

  Then read its status (use the id from the answer):
    curl -sS http://127.0.0.1:$PORT/v1/emails/ID -H 'Authorization: Bearer $KEY'

  SMTP submission: 127.0.0.1:${SMTP_PORT:-2587} (STARTTLS) and :${SMTPS_PORT:-2465} (TLS),
  user "apikey", password = the key above; certificate in var/tls/smtp-cert.pem

  Bounces and complaints in: 127.0.0.1:${INBOUND_PORT:-2526} (the return-path MX in production)
  Events feed: curl -sS http://127.0.0.1:$PORT/v1/events -H 'Authorization: Bearer $KEY'

  Ctrl-C stops Hikyaku.

BANNER
wait -n "${pids[@]}"
