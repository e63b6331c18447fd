#!/usr/bin/env bash
# Makes sure a headless Chromium is there for the dashboard's browser tests and screenshots: the
# distribution's package (never a browser download), installed with apt when missing, as
# Postgres and Redis are. Prints its path. CHROMIUM_PATH names another binary.
set -euo pipefail
path=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ ! -x $path ]]; then
  command -v apt-get >/dev/null || { echo "[chromium] no $path and no apt-get: install Chromium or set CHROMIUM_PATH" >&2; exit 1; }
  [[ $(id -u) == 0 ]] || { echo "[chromium] no $path: install the chromium package (as root) or set CHROMIUM_PATH" >&2; exit 1; }
  echo '[chromium] installing chromium with apt' >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi
printf '%s\n' "$path"
