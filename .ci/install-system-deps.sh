#!/usr/bin/env bash
# Installs the servers the test fixtures start: OpenSSH's sshd and sftp client, PostgreSQL,
# Redis (the Celery broker of `make test-distributed` and `make distributed-demo`).
# Headless Chromium too: the tests open the formula trial report and the quality gate's
# Data Docs in it (.ci/install-chromium.sh).
# Idempotent: does nothing when they are already there.
set -euo pipefail
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -eq 0 ]; then
  exec bash "$(dirname "$0")/install-chromium.sh"
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root or install them first)" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
exec bash "$(dirname "$0")/install-chromium.sh"
