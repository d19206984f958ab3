#!/usr/bin/env bash
# Installs headless Chromium (Debian package `chromium`) for docs/tools/grid_screenshot.py,
# which photographs the Airflow grid for docs/operations.md, and for the tests that open
# HTML reports in it (called by install-system-deps.sh, so by `make test`).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian package: chromium (run as root or install it first)" >&2
  exit 1
fi
echo "installing Debian package: chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
