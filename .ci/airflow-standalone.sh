#!/usr/bin/env bash
# `make airflow`: Airflow standalone on 127.0.0.1 with the project's DAGs, a generated sample
# landing zone and the SQLite warehouse, everything under var/airflow/ (delete it to start
# afresh). Ctrl-C stops every component.
#
# Environment knobs: AIRFLOW_PORT (8080), CRM_SAMPLE_DATE (20261124), CRM_SAMPLE_CUSTOMERS (500).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
VAR=$ROOT/var/airflow
DATE=${CRM_SAMPLE_DATE:-20261124}
PORT=${AIRFLOW_PORT:-8080}
CUSTOMERS=${CRM_SAMPLE_CUSTOMERS:-500}

mkdir -p "$VAR"
export PATH=$BIN:$PATH  # standalone starts its components as `airflow ...`
export AIRFLOW_HOME=$VAR/home
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
# The triggerer (started by standalone) imports the deferred sensor's trigger by its class
# path `crm_waiting.ProvinceFlagsTrigger`: the DAG folder must be on its Python path
# (Airflow adds it for workers and the DAG processor only, apache/airflow#65455).
export PYTHONPATH=$ROOT/dags${PYTHONPATH:+:$PYTHONPATH}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW_PARALLELISM:-4}
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$PORT
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$PORT/execution/
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
# Every component must sign and check the same task tokens; kept in a private file, never printed.
if [ ! -s "$VAR/jwt_secret" ]; then
  (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' > "$VAR/jwt_secret")
fi
AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$VAR/jwt_secret")
export AIRFLOW__API_AUTH__JWT_SECRET

# What the pipeline reads and writes (the tasks inherit these).
export CRM_LANDING_DIR=$VAR/landing
export CRM_STAGING_DIR=$VAR/staging
export CRM_WAREHOUSE_URL=sqlite:///$VAR/warehouse.db
export CRM_DAILY_START=$DATE

if [ ! -f "$CRM_LANDING_DIR/$DATE/FXR_RATE_$DATE.ok" ]; then
  echo "generating a sample landing zone for $DATE in $CRM_LANDING_DIR"
  "$BIN/crm-pipeline" sample --out "$CRM_LANDING_DIR" --date "$DATE" --customers "$CUSTOMERS" --seed 7
fi
"$BIN/crm-pipeline" db upgrade --warehouse "$CRM_WAREHOUSE_URL"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT on 127.0.0.1 is taken: AIRFLOW_PORT=8081 make airflow" >&2
  exit 1
fi

PASSWORDS=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
cat <<BANNER

  Airflow (standalone) is starting on http://127.0.0.1:$PORT
  user admin, password in $PASSWORDS (written on first start)
  DAGs: $ROOT/dags  (paused at creation: unpause crm_initial_load, then trigger it with
        business_date $DATE)
  landing $CRM_LANDING_DIR
  staging $CRM_STAGING_DIR
  warehouse $CRM_WAREHOUSE_URL
  Ctrl-C stops everything.

BANNER

# Say where to log in once the API server answers (standalone's own output scrolls past).
(
  for _ in $(seq 1 150); do
    if [ -s "$PASSWORDS" ] && curl -fsS "http://127.0.0.1:$PORT/api/v2/monitor/health" >/dev/null 2>&1; then
      printf '\n  ready: http://127.0.0.1:%s  user admin, password file %s\n\n' "$PORT" "$PASSWORDS"
      exit 0
    fi
    sleep 2
  done
) &
# In the foreground, so Ctrl-C reaches standalone, which stops its components.
exec "$BIN/airflow" standalone
