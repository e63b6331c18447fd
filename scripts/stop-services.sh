#!/usr/bin/env bash
# Stops the services listed in a record file written by ensure-services.sh --record.
set -uo pipefail
file=${1:?record file}
[[ -f $file ]] || exit 0
while read -r kind a b; do
  case $kind in
    postgres) pg_ctlcluster --skip-systemctl-redirect "$a" "$b" stop >/dev/null 2>&1 && printf '[services] stopped PostgreSQL %s/%s\n' "$a" "$b" >&2 ;;
    redis) [[ $a =~ ^[0-9]+$ ]] && kill "$a" 2>/dev/null && printf '[services] stopped Redis (pid %s)\n' "$a" >&2 ;;
  esac
done <"$file"
rm -f "$file"
