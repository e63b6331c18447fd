#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis are reachable for Hikyaku, on a machine that already runs them
# or on a fresh Debian/Ubuntu one (as root): uses running services, else starts installed ones,
# else installs them with apt. Creates the `hikyaku` role and the databases named as arguments.
#
#   scripts/ensure-services.sh [--record FILE] DB_NAME...
#
# With --record, every service this run started is appended to FILE as "kind pid-or-cluster", so
# a caller (the test command) can stop exactly what it started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RECORD=""
if [[ "${1:-}" == "--record" ]]; then RECORD=$2; shift 2; fi
DBS=("$@")

DB_URL=${DATABASE_URL:-postgresql://hikyaku:hikyaku@127.0.0.1:5432/hikyaku}
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# host and port out of a URL like scheme://user:pass@host:port/db
url_host() { local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}; printf '%s' "${rest%%:*}"; }
url_port() { local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}; [[ $rest == *:* ]] && printf '%s' "${rest##*:}" || printf '%s' "$2"; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 60); do port_open "$host" "$port" && return 0; sleep 0.5; done
  die "$what is not reachable on $host:$port"
}
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

apt_install() {
  command -v apt-get >/dev/null || die "cannot install $*: no apt-get; install it yourself"
  [[ $(id -u) == 0 ]] || die "cannot install $* without root; install it yourself or run as root"
  log "installing $* with apt"
  if [[ -z ${APT_UPDATED:-} ]]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

record() { [[ -n $RECORD ]] && printf '%s\n' "$*" >>"$RECORD"; return 0; }

# ---------------------------------------------------------------- PostgreSQL
PG_HOST=$(url_host "$DB_URL"); PG_PORT=$(url_port "$DB_URL" 5432)

start_local_postgres() {
  if ! command -v pg_ctlcluster >/dev/null || [[ -z $(ls /etc/postgresql 2>/dev/null) ]]; then
    apt_install postgresql
  fi
  local version cluster
  for version in $(ls /etc/postgresql); do
    for cluster in $(ls "/etc/postgresql/$version"); do
      if ! pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
        log "starting PostgreSQL cluster $version/$cluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start >&2 || true
        record "postgres $version $cluster"
      fi
    done
  done
}

admin_psql() {
  # A fresh Debian cluster trusts only its own OS user on the socket; other machines trust TCP.
  if [[ $(id -u) == 0 ]] && id postgres >/dev/null 2>&1; then
    su postgres -c "psql -v ON_ERROR_STOP=1 -Atq -c \"$1\"" 2>/dev/null && return 0
  fi
  psql -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atq -c "$1" 2>/dev/null
}

ensure_role_and_dbs() {
  local user pass
  user=$(printf '%s' "${DB_URL#*://}" | cut -d@ -f1 | cut -d: -f1)
  pass=$(printf '%s' "${DB_URL#*://}" | cut -d@ -f1 | cut -s -d: -f2)
  command -v psql >/dev/null || apt_install postgresql-client
  if ! PGPASSWORD=$pass psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
    log "creating PostgreSQL role $user"
    admin_psql "DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN CREATE ROLE $user; END IF; END \\\$\\\$; ALTER ROLE $user WITH LOGIN CREATEDB PASSWORD '$pass';" ||
      die "could not create role $user; create it yourself: CREATE ROLE $user LOGIN CREATEDB PASSWORD '…'"
  fi
  local db
  for db in "${DBS[@]}"; do
    if [[ -z $(PGPASSWORD=$pass psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
      log "creating database $db"
      PGPASSWORD=$pass psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -Atqc "CREATE DATABASE \"$db\"" >/dev/null
    fi
  done
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  is_local "$PG_HOST" || die "PostgreSQL at $PG_HOST:$PG_PORT (DATABASE_URL) is not reachable"
  start_local_postgres
  wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
fi
if [[ -z ${DATABASE_URL:-} ]]; then ensure_role_and_dbs; fi

# --------------------------------------------------------------------- Redis
REDIS_HOST=$(url_host "$REDIS"); REDIS_PORT=$(url_port "$REDIS" 6379)
if ! port_open "$REDIS_HOST" "$REDIS_PORT"; then
  is_local "$REDIS_HOST" || die "Redis at $REDIS_HOST:$REDIS_PORT (REDIS_URL) is not reachable"
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$ROOT/var/redis"
  log "starting Redis on 127.0.0.1:$REDIS_PORT (data in var/redis)"
  # AOF so that a restart keeps queued jobs; noeviction because BullMQ needs every key it wrote.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$ROOT/var/redis" \
    --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
    --pidfile "$ROOT/var/redis/redis.pid" --logfile "$ROOT/var/redis/redis.log" >&2
  wait_port "$REDIS_HOST" "$REDIS_PORT" Redis
  record "redis $(cat "$ROOT/var/redis/redis.pid" 2>/dev/null || echo unknown)"
fi
log "PostgreSQL $PG_HOST:$PG_PORT and Redis $REDIS_HOST:$REDIS_PORT are reachable"
