#!/usr/bin/env bash
# Runs the suite; pytest's exit 5 ("no tests collected") is a failure here, never a pass.
# The `distributed` tests (Airflow on Celery, minutes) have their own target: make distributed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The slowest tests are listed at the end of every run, so a budget overrun is seen early.
.venv/bin/python -m pytest -n 2 --dist loadgroup --durations=25 -m "not distributed" "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
