#!/usr/bin/env bash
# `npm run bench`: one benchmark run of the whole system on loopback.
#
# Makes sure Postgres and Redis run (starting them only if needed, and stopping what it started),
# builds dist/ if src/ is newer, recreates the database $BENCH_DB, migrates it, creates an account
# key through the CLI, and uses a BullMQ prefix unique to this run. Then, each in its own process:
# an SMTP sink (scripts/bench/sink.mjs), `hikyaku api`, `hikyaku worker` (relay = the sink),
# `hikyaku smtp` (submission on two free ports, self-signed certificate under the run's var dir;
# started with the others, idle until (s), stopped right after (s) has drained) and an HTTP load
# generator (scripts/bench/loadgen.mjs); for (x) a DNS server (scripts/bench/dns.mjs) and a second
# api + worker pair in MX mode; for (w)/(bw) a webhook receiver (scripts/bench/hooksink.mjs) and
# `hikyaku webhooks`; for (i) `hikyaku inbound` and a DSN generator (scripts/bench/dsngen.mjs). Every
# app process gets the same HIKYAKU_SECRET, made up by the driver for the run (it signs return
# paths for (i) with it), and WEBHOOK_ALLOW_PRIVATE=true (the receiver is on loopback). Phases:
#   (a) accept rate: closed loop, BENCH_CONNECTIONS connections, warm-up + measured window, worker
#       running; then waits (bounded) until the sink has everything (a) accepted. That drain (no
#       incoming load) gives the deliver-only ("solo") rate; delivery during the window vs solo is
#       the delivery ratio WITHOUT admission control (the api of (a)–(o) runs with the app's own
#       ADMISSION_MAX_BACKLOG, default 100000, which (a) does not reach; any 503s show as non-202).
#   (s) SMTP ingress: nodemailer's pooled transport (scripts/bench/smtpgen.mjs, own process) over
#       STARTTLS + AUTH PLAIN (user apikey, password = the key), BENCH_SMTP_CONNECTIONS connections,
#       BENCH_SMTP_INFLIGHT sendMail calls in flight, closed loop, same message as the HTTP phases,
#       BENCH_WARMUP_SECONDS + BENCH_SMTP_SECONDS; the worker running as in (a), so messages/s
#       answered 250 is printed next to (a)'s 202s/s. Then waits (bounded) until the sink has all
#       of them, so (b) starts with an empty queue. A failure of (s) (smtp does not start, crashes)
#       is reported as a problem and the rest of the run goes on.
#   (b) sustained end-to-end: open loop at BENCH_E2E_RATE req/s, evenly spaced, measured at the sink
#       (msgs/s inside the window, backlog, drain, accept→arrival latency). (b2) the same at
#       BENCH_LAT_RATE for latency.
#   (m) memory top-up: only if the api has not yet handled BENCH_MEMORY_MESSAGES messages past its
#       RSS reference point, open loop at BENCH_MEMORY_RATE for as long as that takes (bounded).
#       With the defaults (a)+(b)+(b2) handle ~35–45k, so (m) runs ~15–25 s.
#   (o) solo rate for (d): BENCH_SOLO_FILL_SECONDS of closed loop (as (a)) on the same api, then the
#       drain of the backlog it leaves, timed from the sink's timestamps: the deliver-only rate on
#       the database as it is just before (d) (it slows as tables grow, markedly without autovacuum).
#       Delivery during the burst vs that solo is a second, late no-admission ratio. Before (o),
#       the run waits (bounded by BENCH_DRAIN_SECONDS) until everything accepted so far has reached
#       the sink, so (o) and (bw) time drains of their own messages only (messages of other phases
#       delivered during a solo phase are counted and reported).
#   (w) webhooks out: before (o), the receiver (node:http on 127.0.0.1, answers 204, counts requests
#       and distinct webhook-ids, verifies 1 in BENCH_WEBHOOK_VERIFY_EVERY signatures with the
#       `standardwebhooks` library) and one endpoint subscribed to every event (POST /v1/webhooks),
#       with no webhooks process yet: a new endpoint gets the events from its creation on, so the
#       events of (o) (email.queued + email.sent of each message, real rows written by the pipeline)
#       are its backlog. After (o), a `hikyaku webhooks` process starts, the api and worker idle;
#       deliveries/s at the receiver from its first to its last first-arrival, as a drain (bounded
#       by BENCH_WEBHOOK_DRAIN_SECONDS). Compared with (c). (Sending N more emails for the backlog
#       would give the same rows for ~N/1500 s more run time; copying events with SQL would skip
#       the pipeline that writes them.) Without (o), a fill of its own, (wo), plays its part.
#   (bw) sending with webhooks: (ow), the solo phase (o) again (same fill, then its drain) with the
#       webhooks process running and the endpoint subscribed to every event; its deliver-only rate
#       / (o)'s = send_with_webhooks_ratio (also the accept rate of the fill, and delivery during
#       it); then the wait (bounded) until webhooks have caught up, with the event→receiver lag.
#       On a shared machine that rate ratio follows the other load; send_with_webhooks_cpu_ratio
#       (this run's own CPU per message, fill and drain, without / with webhooks) does much less.
#       The webhooks process stops before (d). A failure of (w)/(bw) is reported as a problem and
#       the rest of the run goes on (BENCH_SKIP_WEBHOOKS skips both).
#   (d) overload: the api is stopped and a new one started with ADMISSION_MAX_BACKLOG =
#       BENCH_ADMISSION_MAX_BACKLOG (so (a)/(b) are not affected by the low threshold); closed loop,
#       BENCH_OVERLOAD_CONNECTIONS connections behaving like SDKs: after a 503 a connection waits the
#       Retry-After delay (capped) before its next request. Measured for BENCH_OVERLOAD_SECONDS from
#       the first 503; delivery at the sink inside the window / solo of (o) = overload_delivery_ratio
#       (solo of (a) when (o) is skipped).
#       BullMQ's waiting/active counts are sampled every 250 ms (does the queue run dry?).
#   (x) MX mode (after (d); the relay-mode api and worker have stopped, so no process without the
#       loopback DNS server takes its jobs): a loopback DNS server (scripts/bench/dns.mjs, UDP; MX
#       and A answers) gives each of BENCH_MX_DOMAINS recipient domains d1…dN.bench.test an MX
#       record → mx.d<i>.bench.test → A 127.0.0.<20+i>, where the sink process listens as well (one
#       listener per address, one port, counting connections and messages per address); a new api
#       and worker run with DELIVERY_MODE=mx, DNS_SERVERS=127.0.0.1:<port>, DNS_TIMEOUT=2s,
#       MX_PORT=<that port>, MX_ALLOW_PRIVATE=true (and SHAPING_CONFIG=BENCH_MX_SHAPING_CONFIG if
#       set; else the default shaping). One smoke message, an unmeasured warm-up of
#       BENCH_WARMUP_SECONDS at BENCH_MX_RATE (tagged xw; the pair is fresh, unlike (b)'s, which (a)
#       and (s) warmed), drained, then open loop at BENCH_MX_RATE for BENCH_MX_SECONDS, recipients
#       round-robin over the domains, measured like (b) and printed next to (b); then (xo), the
#       deliver-only rate in MX mode: BENCH_MX_FILL_SECONDS of closed loop and the drain it leaves
#       (next to (o)'s). Also: connections opened per domain vs messages (connection reuse), BullMQ
#       delayed jobs, DNS queries, Redis commands per message (vs (b)). At the end, every recipient
#       at *.bench.test must be `delivered` in Postgres (not `sent`), none routed to the relay, as
#       many as were accepted; anything else is a problem. (x) runs on a database ~90k messages
#       bigger than (b)'s (slower, markedly with autovacuum off): compare with care. A failure of
#       (x) is reported as a problem and (c) still runs.
#   (i) DSNs in (after (x); the relay-mode api and worker gone): `hikyaku inbound` on a free loopback
#       port; a generator (own process; nodemailer pool, BENCH_INBOUND_CONNECTIONS connections,
#       STARTTLS as offered, BENCH_INBOUND_INFLIGHT in flight, closed loop, BENCH_WARMUP_SECONDS +
#       BENCH_INBOUND_SECONDS) sends the Postfix DSN of test/fixtures/reports/postfix-5.1.1.eml,
#       MAIL FROM:<>, RCPT the signed return path (verp.ts with the run's secret) of one real `sent`
#       delivery at example.net each, its recipient named in the DSN. DSNs/s answered 250 (and / (c));
#       afterwards every recipient whose DSN got a 250 must be `bounced`. It runs after every phase
#       that mails example.net through the app: the hard bounces suppress those addresses. A failure
#       of (i) is reported as a problem and (c) still runs. Also: tables scanned sequentially meanwhile.
#   (k) campaigns (scripts/bench/campaigns.mjs): batch accept, by the API tier alone (worker stopped)
#       and beside a draining worker, then transactional latency under the broadcast backlog.
#   (p) dashboard page loads (scripts/bench/dashboard.mjs): a database of its own with
#       BENCH_DASH_EMAILS emails (SQL-loaded), an api on it, each page timed BENCH_DASH_SAMPLES times.
#   (c) baseline: nodemailer's pooled transport straight to the same sink (API and worker stopped).
# Order: smoke test, (a), (s), (b), (b2), (m), (k), (o), (w), (bw), (d), (x), (i), (p), (c). Messages are
# tagged `X-Bench-Id: <phase letter>.<seq>` (smoke test: smoke.0, (x)'s: xsmoke.0; (bw)'s: ow.<seq>;
# warm-ups count with their phase, except (c)'s, tagged cw, and (x)'s, tagged xw), which is how the
# sink counts arrivals per phase.
# Memory: RSS of api and worker every second from the smoke test until they stop; reference point =
# first sample after BENCH_MEMORY_WARMUP_MESSAGES messages (api: 202s; worker: arrivals at the
# sink), compared with the last sample (api: after (bw); worker: after (d)); also the median RSS
# during (b) vs during (m), which offer the same rate (like for like, ~15–30k messages apart).
# Prints a readable report (stdout; progress goes to stderr); the LAST line is one JSON object:
#   accept_rps accept_p50_ms accept_p99_ms
#   smtp_accept_msgs_per_s smtp_accept_p50_ms smtp_accept_p99_ms smtp_errors (+ smtp_error_sample)
#   smtp_connections smtp_vs_http_accept (= smtp_accept_msgs_per_s / accept_rps)
#   e2e_msgs_per_s e2e_p50_ms e2e_p99_ms
#   baseline_msgs_per_s ratio (= e2e_msgs_per_s / baseline_msgs_per_s)
#   overload_delivered_msgs_per_s overload_accepted_rps overload_503_rps solo_msgs_per_s
#   overload_delivery_ratio delivery_ratio_without_admission
#   messages_total api_rss_growth_pct worker_rss_growth_pct rss_over_50k_messages
#   mx_e2e_msgs_per_s mx_e2e_p50_ms mx_e2e_p99_ms mx_kept_up mx_domains
#   mx_vs_relay_e2e (= mx_e2e_msgs_per_s / e2e_msgs_per_s of (b); both at their own offered rate)
#   mx_deliver_only_msgs_per_s mx_vs_relay_deliver_only (= / solo of (o))
#   mx_recipients_delivered mx_recipients_not_delivered
#   reply_rules_us_per_reply reply_rules_worst_us_per_reply reply_rules_share_of_mx_worker_cpu (worst
#       case, were every message refused once: the rule table's cost; target < 0.05)
#   webhook_deliveries_per_s webhook_vs_baseline (= / baseline_msgs_per_s) webhook_backlog
#   webhook_missing webhook_signatures_failed
#   send_with_webhooks_ratio (= deliver-only of (bw) / of (o)) send_with_webhooks_msgs_per_s
#   send_without_webhooks_msgs_per_s send_with_webhooks_accept_ratio send_with_webhooks_lag_p99_ms
#   send_with_webhooks_cpu_ratio send_with_webhooks_comparable (false: a drain was not its own alone)
#   inbound_dsns_per_s inbound_vs_baseline inbound_p50_ms inbound_p99_ms inbound_errors
#   inbound_bounced inbound_bounced_expected
#   foreign_cpu_max_cores (most CPU other users of the machine took during a measured phase) + extra keys.
# The report also lists, per phase, the CPU of processes foreign to the run (other databases'
# Postgres backends, other programs): on a shared machine, ratios from phases where it is high mean
# little.
# Everything it started (processes, the database, Redis keys under its prefix) is removed at the
# end (the DNS server and the MX listeners too), also on failure or Ctrl-C. Default total run time
# is about 5 minutes on 2 cores ((x) adds ~40 s, (w)+(bw) ~35 s, (i) ~20 s; longer when (b) and (m)
# fall behind and leave backlogs to drain).
#
# Knobs (environment; durations in seconds):
#   BENCH_WARMUP_SECONDS=2          (a) warm-up before the measured window; (s)'s too, and (x)'s unmeasured open-loop warm-up
#   BENCH_ACCEPT_SECONDS=10         (a) measured window
#   BENCH_CONNECTIONS=50            (a) concurrent keep-alive connections
#   BENCH_BODY_BYTES=2048           text body size (ASCII, 72-char lines), all phases
#   BENCH_DRAIN_SECONDS=40          longest wait for the sink to receive what (a) accepted
#   BENCH_SMTP_SECONDS=10           (s) measured window (after BENCH_WARMUP_SECONDS); drain bounded by BENCH_DRAIN_SECONDS
#   BENCH_SMTP_CONNECTIONS=10       (s) pooled SMTP connections (nodemailer maxConnections)
#   BENCH_SMTP_INFLIGHT=50          (s) sendMail calls in flight
#   BENCH_SMTP_CPU_PROF=1           (s) run `hikyaku smtp` with --cpu-prof; the report lists its self time
#   BENCH_INBOUND_CPU_PROF=1        (i) the same for `hikyaku inbound`
#                                   by package and function (profiling slows it: not for the figures)
#   BENCH_E2E_RATE=800              (b) offered rate, req/s
#   BENCH_E2E_SECONDS=20            (b) offered window
#   BENCH_E2E_DRAIN_SECONDS=20      (b) longest wait after the window for the rest to arrive
#   BENCH_LAT_RATE=200              (b2) offered rate for the latency run
#   BENCH_LAT_SECONDS=10            (b2) window
#   BENCH_LAT_DRAIN_SECONDS=10      (b2) longest wait after the window
#   BENCH_BASELINE_MESSAGES=10000   (c) messages (after 200 warm-up messages)
#   BENCH_BASELINE_INFLIGHT=50      (c) sendMail calls in flight
#   BENCH_BASELINE_MAX_SECONDS=30   (c) time bound
#   BENCH_MEMORY_MESSAGES=50000     (m) messages the api must handle past its RSS reference point (0: no (m))
#   BENCH_MEMORY_WARMUP_MESSAGES=5000  RSS reference point: first sample after this many messages
#   BENCH_MEMORY_RATE=$BENCH_E2E_RATE  (m) offered rate, req/s
#   BENCH_MEMORY_MAX_SECONDS=60     (m) longest window
#   BENCH_SOLO_FILL_SECONDS=5       (o) closed-loop burst before the timed drain (0: no (o); (d) uses (a)'s drain)
#   BENCH_ADMISSION_MAX_BACKLOG=2000   (d) ADMISSION_MAX_BACKLOG of the api started for (d)
#   BENCH_OVERLOAD_CONNECTIONS=50   (d) concurrent keep-alive connections
#   BENCH_OVERLOAD_SECONDS=15       (d) measured window (starts at the first 503)
#   BENCH_OVERLOAD_WARMUP_SECONDS=10   (d) longest warm-up: the window starts after it even without a 503
#   BENCH_OVERLOAD_DRAIN_SECONDS=20    (d) longest wait for the sink to receive what (d) accepted
#   BENCH_RETRY_AFTER_CAP_SECONDS=2    (d) longest wait after a 503, whatever Retry-After says
#   BENCH_RETRY_JITTER=0            (d) waits are stretched by a random 0..JITTER fraction (0.5 = up to +50%)
#   BENCH_MX_RATE=600               (x) offered rate, req/s
#   BENCH_MX_SECONDS=15             (x) offered window
#   BENCH_MX_DRAIN_SECONDS=20       (x) longest wait after the window for the rest to arrive
#   BENCH_MX_DOMAINS=20             (x) recipient domains, one MX host (loopback address) each; at most 200
#   BENCH_MX_FILL_SECONDS=4         (xo) closed-loop fill before the timed drain (0: no (xo)); drain bounded by BENCH_DRAIN_SECONDS
#   BENCH_MX_SHAPING_CONFIG=        (x) a JSON file passed as SHAPING_CONFIG to the MX-mode api and worker
#   BENCH_WEBHOOK_DRAIN_SECONDS=60  (w) longest drain; (bw) longest wait for webhooks to catch up
#   BENCH_WEBHOOK_VERIFY_EVERY=50   (w)/(bw) the receiver verifies the signature of 1 request in this many
#   BENCH_INBOUND_SECONDS=10        (i) measured window (after BENCH_WARMUP_SECONDS)
#   BENCH_INBOUND_CONNECTIONS=10    (i) pooled SMTP connections of the DSN generator
#   BENCH_INBOUND_INFLIGHT=50       (i) DSNs in flight
#   BENCH_INBOUND_TARGETS=30000     (i) sent deliveries read from the database to answer (used again if they run out)
#   BENCH_INBOUND_NO_TLS=1          (i) do not use the STARTTLS the inbound listener offers
#   BENCH_DASH_EMAILS=1000000       (p) emails in its database
#   BENCH_DASH_ACCOUNT_EMAILS=10000 (p) of them, the signed-in account's
#   BENCH_DASH_SAMPLES=30           (p) timed loads of each page (after 3 warm-ups)
#   BENCH_SKIP_CAMPAIGNS=1 / BENCH_SKIP_DASHBOARD=1  skip (k) / (p)
#   BENCH_SKIP_ACCEPT=1 / BENCH_SKIP_SMTP=1 / BENCH_SKIP_LATENCY=1 / BENCH_SKIP_OVERLOAD=1 /
#   BENCH_SKIP_MX=1 / BENCH_SKIP_WEBHOOKS=1 / BENCH_SKIP_INBOUND=1 / BENCH_SKIP_BASELINE=1
#                                   skip a phase (BENCH_SKIP_OVERLOAD skips (o) as well; BENCH_SKIP_SMTP
#                                   does not start `hikyaku smtp` at all; BENCH_SKIP_MX skips (x) and (xo);
#                                   BENCH_SKIP_WEBHOOKS skips (w) and (bw))
#   BENCH_REQUEST_TIMEOUT_SECONDS=30  per HTTP request (counted as an error when hit); (s): SMTP
#                                   connection, greeting and socket inactivity timeouts
#   BENCH_MAX_INFLIGHT=4000         open loop: requests in flight before the generator skips (reported)
#   BENCH_OPEN_MAX_SOCKETS=256      open loop: keep-alive sockets
#   BENCH_MAX_TOTAL_SECONDS=420     watchdog for the whole run
#   BENCH_DB=hikyaku_bench          database (dropped and recreated; dropped at the end)
#   BENCH_PG_URL=postgresql://hikyaku:hikyaku@127.0.0.1:5432   server + role (needs CREATEDB)
#   BENCH_REDIS_URL=redis://127.0.0.1:6379
#   BENCH_LOG_LEVEL=warn            LOG_LEVEL of every app process (their logs are summarised)
#   BENCH_KEEP_LOGS=1               keep the run directory (api.log, worker.log, smtp.log, webhooks.log, inbound.log,
#                                   api-x.log, worker-x.log, prof/) and print its path
#   BENCH_NO_BUILD=1                do not rebuild dist/ even if src/ is newer
#   WORKER_CONCURRENCY=50 SMTP_POOL_SIZE=10 DB_POOL_SIZE=10 WEBHOOK_CONCURRENCY=100  passed to the app; ADMISSION_MAX_BACKLOG
#                                   to the api of (a)–(o) only ((d) uses BENCH_ADMISSION_MAX_BACKLOG);
#                                   DELIVERY_MODE is always relay except for (x)'s api and worker
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

export BENCH_ROOT=$ROOT
export BENCH_DB=${BENCH_DB:-hikyaku_bench}
BENCH_PG_URL=${BENCH_PG_URL:-postgresql://hikyaku:hikyaku@127.0.0.1:5432}
BENCH_PG_URL=${BENCH_PG_URL%/}
export BENCH_ADMIN_URL=$BENCH_PG_URL/postgres
export BENCH_DATABASE_URL=$BENCH_PG_URL/$BENCH_DB
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
export BENCH_PREFIX="hkbench-$(date +%s)-$$"
export BENCH_CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
BENCH_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hikyaku-bench.XXXXXX")
export BENCH_STATE_DIR
services=$BENCH_STATE_DIR/services-started

driver=""
finish() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $driver ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    # The driver's own teardown is bounded (~30 s); wait for it, then make sure.
    for _ in $(seq 1 600); do kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver" 2>/dev/null || true
  fi
  # Backstop: leftover processes, the database, the Redis keys (quiet when nothing is left).
  node scripts/bench/cleanup.mjs || true
  bash scripts/stop-services.sh "$services" || true
  if [[ ${BENCH_KEEP_LOGS:-} == 1 ]]; then
    printf '[bench] logs kept in %s\n' "$BENCH_STATE_DIR" >&2
  else
    rm -rf "$BENCH_STATE_DIR"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

REDIS_URL=$BENCH_REDIS_URL DATABASE_URL='' bash scripts/ensure-services.sh --record "$services"

if [[ ${BENCH_NO_BUILD:-} != 1 ]] && [[ ! -f dist/.built || -n $(find src -newer dist/.built \( -name '*.ts' -o -name '*.liquid' -o -name '*.css' \) -print -quit) ]]; then
  printf '[bench] src/ is newer than dist/: npm run build\n' >&2
  npm run --silent build
fi

# In the background so that a signal to this script interrupts `wait` at once and reaches the driver.
node scripts/bench/driver.mjs &
driver=$!
set +e
wait "$driver"
rc=$?
set -e
driver=""
exit "$rc"
