"""`make distributed-demo`: two provinces over two Celery workers, through the real scheduler.

Starts on 127.0.0.1, on free ports, in a temporary folder: PostgreSQL (Airflow's metadata
database and the CRM warehouse, two databases of one server), Redis (the Celery broker),
SeaweedFS (the staging area and the state snapshots, `s3://crm/staging`), and Airflow 3 on
the CeleryExecutor: API server, scheduler, DAG processor, triggerer and two
`airflow celery worker` processes (`worker-a`, `worker-b`, one task at a time each, each
with its own scratch folder, as two machines would have). The DAG folder is dags/.

Then, through the REST API as an operator would: unpauses `crm_initial_load` and triggers
it for the sample's two provinces (ZJ and GD, their city branches folded in), waits for
it; unpauses `crm_daily`, whose scheduler catch-up creates the next nights in order, and
waits for two of them. Prints on which worker each task of each province ran
(`TaskInstance.hostname`), the wall time of each run, and `crm-pipeline status` of each
date. Stops everything at the end, on a failure and on Ctrl-C.

    .venv/bin/python -m bench.distributed_demo [--customers 300] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily
from tests.servers.airflow_api import province_labels
from tests.servers.celery_cluster import CeleryCluster
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.seaweedfs import BUCKET, start_seaweedfs

D0 = date(2026, 11, 24)
NIGHTS = 2
BRANCHES = ["ZJ", "NB", "GD", "SZ"]  # provinces ZJ and GD, each with a city branch
WORKERS = ["worker-a", "worker-b"]
RUN_SECONDS = 900


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pipeline_env(root: Path, warehouse: str, store: dict[str, str]) -> dict[str, str]:
    """What every task of the deployment reads (the same on every worker)."""
    return {
        "CRM_LANDING_DIR": str(root / "landing"),
        "CRM_STAGING_DIR": f"s3://{BUCKET}/staging",
        "CRM_WAREHOUSE_URL": warehouse,
        "CRM_EXPORT_DIR": str(root / "export"),
        "CRM_DAILY_START": f"{D0 + timedelta(days=1):%Y%m%d}",
        "CRM_BUCKETS": "3",
        **store,
    }


def where_they_ran(tis: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per province label: `task@host seconds` in the order they started (last try of each)."""
    labels = province_labels(tis)
    rows: dict[str, list[tuple[str, str]]] = {}
    for ti in tis:
        if ti["map_index"] < 0:
            continue
        label = str(labels.get(ti["map_index"], ti["map_index"]))
        task = ti["task_id"].removeprefix("province.")
        host = ti["hostname"] or f"({ti['state']})"
        took = f" {ti['duration']:.0f}s" if ti.get("duration") is not None else ""
        rows.setdefault(label, []).append((ti.get("start_date") or "~", f"{task}@{host}{took}"))
    return {label: [cell for _, cell in sorted(cells)] for label, cells in sorted(rows.items())}


def report_run(cluster: CeleryCluster, dag_id: str, run: dict[str, Any]) -> None:
    assert cluster.server is not None
    tis = cluster.server.task_instances(dag_id, run["dag_run_id"])
    started, ended = run.get("start_date") or "?", run.get("end_date") or "?"
    print(f"\n{dag_id} {run['dag_run_id']}: {run['state']} ({started} .. {ended})")
    for label, cells in where_they_ran(tis).items():
        print(f"  {label}: " + " ".join(cells))
    hosts = sorted({str(t["hostname"]) for t in tis if t["hostname"]})
    print(f"  workers used: {', '.join(hosts)}")


def wait_daily(cluster: CeleryCluster, nights: int) -> list[dict[str, Any]]:
    """The first `nights` runs the scheduler's catch-up creates, once each has finished."""
    assert cluster.server is not None
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        runs = cluster.server.runs("crm_daily")[:nights]
        if len(runs) == nights and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        time.sleep(3)
    raise RuntimeError(f"crm_daily: {nights} nights not finished in {RUN_SECONDS}s")


def status(warehouse: str, day: date) -> None:
    """`crm-pipeline status` of the date: the per-province summary, its own code."""
    print()
    command = [sys.executable, "-m", "crm_pipeline.cli", "status", "--date", f"{day:%Y%m%d}"]
    subprocess.run([*command, "--warehouse", warehouse], check=False)


def demo(root: Path, customers: int) -> int:
    landing = root / "landing"
    write_sample(landing, D0, BRANCHES, customers, 7)
    write_daily(landing, D0, NIGHTS + 1, seed=7)
    with contextlib.ExitStack() as stack:
        print(f"starting PostgreSQL, Redis, SeaweedFS and Airflow under {root}", flush=True)
        pg = PostgresServer()
        pg.start()
        stack.callback(pg.stop)
        redis = RedisServer()
        redis.start()
        stack.callback(redis.stop)
        store = start_seaweedfs(root / "seaweedfs")
        stack.callback(store.stop)
        pg.execute('CREATE DATABASE "warehouse"')
        warehouse = pg.url("warehouse")
        cluster = CeleryCluster(root, pg, redis.url, pipeline_env(root, warehouse, store.env()))
        stack.callback(cluster.stop)
        began = time.monotonic()
        server = cluster.start(WORKERS)
        print(f"Airflow ready in {time.monotonic() - began:.0f} s at {server.base}", flush=True)

        server.unpause("crm_initial_load")
        run_id = server.trigger("crm_initial_load", {"business_date": f"{D0:%Y%m%d}"})
        initial_state = server.wait("crm_initial_load", run_id, RUN_SECONDS)
        [initial] = [r for r in server.runs("crm_initial_load") if r["dag_run_id"] == run_id]
        report_run(cluster, "crm_initial_load", initial)
        if initial_state != "success":
            print(f"initial load {initial_state}: logs in {cluster.logs}", file=sys.stderr)
            return 1
        server.unpause("crm_daily")
        nights = wait_daily(cluster, NIGHTS)
        for night in nights:
            report_run(cluster, "crm_daily", night)
        for day in [D0 + timedelta(days=i) for i in range(NIGHTS + 1)]:
            status(warehouse, day)
        failed = [n["dag_run_id"] for n in nights if n["state"] != "success"]
        if failed:
            print(f"failed: {', '.join(failed)}; logs in {cluster.logs}", file=sys.stderr)
            return 1
        print("\nstopping everything", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=300, help="customers per branch")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    root = Path(tempfile.mkdtemp(prefix="crm-distributed-"))
    try:
        return demo(root, args.customers)
    except KeyboardInterrupt:
        print("\ninterrupted: everything stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"distributed-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
