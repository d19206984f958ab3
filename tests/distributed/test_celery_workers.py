"""Provinces on Celery workers: a worker killed mid-step, its province finished by another.

Airflow 3 on the CeleryExecutor (tests/servers/celery_cluster.py): PostgreSQL for its
metadata and the warehouse, Redis as broker, the staging area and the state on SeaweedFS.
Each worker stands for a machine: its own scratch folder, its own host name.

1. `worker-a` alone takes the initial load until a province's merge step has merged one of
   its three buckets (the hold point `merge:0001`); `worker-b` is started, and every process
   of `worker-a` is killed with SIGKILL there. The scheduler sees the task's heartbeat stop,
   retries it, and `worker-b` finishes the province from the ledger on the store (the
   buckets done before the kill are not redone) and the other province too. The warehouse
   equals a single-machine run of the same landing zone, table by table.
2. `worker-b` is stopped and `worker-c` (another fresh machine) takes the first daily night,
   from the state snapshots the others wrote on the store; equal to the single-machine
   night.

About 3 minutes on two cores, hence `distributed` (outside the main suite: make
test-distributed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from common.dates import business_day
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily
from tests.daily.test_daily_crash_restart import snapshot
from tests.servers.airflow_api import province_labels
from tests.servers.celery_cluster import CeleryCluster
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.seaweedfs import BUCKET, SeaweedServer

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.airflow,
    pytest.mark.slow,
    pytest.mark.xdist_group("distributed"),
]

D0, D1 = "20261124", "20261125"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]
PREFIX = "distributed/staging"
HOLD_SECONDS = 400
SETTINGS = {"CRM_BUCKETS": "3"}  # three merge buckets: a kill between two of them


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distributed-landing") / "landing"
    write_sample(root, date(2026, 11, 24), BRANCHES, 150, 13)
    write_daily(root, date(2026, 11, 24), 1, seed=13, change_rate=0.1)
    return root


@dataclass
class Reference:
    """The same loads on one machine (local staging, in this process), province by
    province in the order the cluster published them: the warehouse's surrogate customer
    ids are handed out in load order, so only the same order gives the same tables."""

    url: str
    staging: Path
    landing: Path

    def load(self, day: str, mode: str, provinces: list[str]) -> dict[str, list[Any]]:
        saved = {k: os.environ.get(k) for k in SETTINGS}
        os.environ.update(SETTINGS)
        try:
            for province in provinces:
                [summary] = run_date(day, mode, self.landing, [province], self.url, self.staging)
                assert summary.status == "published", summary.error
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return snapshot(self.url)


def published_order(url: str, day: str, mode: str) -> list[str]:
    """The provinces of `day` and `mode` in the order their batches were published."""
    from sqlalchemy import create_engine, select

    from load import tables

    batch = tables.crm_load_batch.c
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(batch.province)
                .where(batch.business_date == business_day(day, "day"), batch.mode == mode)
                .where(batch.status == "published")
                .order_by(batch.published_at)
            ).all()
    finally:
        engine.dispose()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def reference(
    pg_server: PostgresServer, landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    url = pg_server.url(pg_server.create_database())
    return Reference(url, tmp_path_factory.mktemp("reference-staging"), landing)


@pytest.fixture(scope="module")
def cluster(
    pg_server: PostgresServer,
    redis_server: RedisServer,
    seaweedfs: SeaweedServer,
    landing: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CeleryCluster]:
    root = tmp_path_factory.mktemp("celery")
    env = {
        "CRM_LANDING_DIR": str(landing),
        "CRM_STAGING_DIR": f"s3://{BUCKET}/{PREFIX}",
        "CRM_WAREHOUSE_URL": pg_server.url(pg_server.create_database()),
        "CRM_EXPORT_DIR": str(root / "export"),
        "CRM_DAILY_START": D1,
        **SETTINGS,
        **seaweedfs.env(),
    }
    metadata = pg_server.create_database()
    celery = CeleryCluster(root, pg_server, redis_server.url, env, metadata_database=metadata)
    hold = {"CRM_CRASH_AT": "merge:0001", "CRM_CRASH_HOLD": str(root / "held")}
    try:
        celery.start([])
        celery.start_worker("worker-a", hold)
        yield celery
    finally:
        celery.stop()


def _province_tis(tis: list[dict[str, Any]], province: str) -> dict[str, dict[str, Any]]:
    labels = province_labels(tis)
    return {
        t["task_id"].removeprefix("province."): t
        for t in tis
        if t["map_index"] >= 0 and labels.get(t["map_index"]) == province
    }


def _merge_entries(seaweedfs: SeaweedServer, province: str) -> dict[str, bytes]:
    fs = seaweedfs.filesystem()
    folder = f"{BUCKET}/{PREFIX}/{D0}/{province}/initial/_jobs/merge"
    out = {}
    for name in ("0000.json", "0001.json"):
        with fs.open_input_stream(f"{folder}/{name}") as stream:
            out[name] = stream.read()
    return out


def test_worker_killed_mid_merge_its_province_finished_by_the_other(
    cluster: CeleryCluster, seaweedfs: SeaweedServer, reference: Reference
) -> None:
    server = cluster.server
    assert server is not None
    server.unpause("crm_initial_load")
    run_id = server.trigger("crm_initial_load", {"business_date": D0})
    held = cluster.root / "held"
    deadline = time.monotonic() + HOLD_SECONDS
    while not held.exists():
        assert time.monotonic() < deadline, f"worker-a never reached merge:0001; {cluster.logs}"
        assert cluster.workers["worker-a"].process.poll() is None, "worker-a died on its own"
        time.sleep(1)
    tis = server.task_instances("crm_initial_load", run_id)
    [merging] = [t for t in tis if t["task_id"] == "province.merge" and t["state"] == "running"]
    province = province_labels(tis)[merging["map_index"]]
    assert merging["hostname"] == "worker-a"
    before = _merge_entries(seaweedfs, province)
    assert all(json.loads(e)["state"] == "done" for e in before.values())

    cluster.start_worker("worker-b")
    killed = cluster.kill_worker("worker-a")
    assert int(held.read_text()) in killed  # the task process itself, not only the worker

    assert server.wait("crm_initial_load", run_id, seconds=600) == "success"
    tis = server.task_instances("crm_initial_load", run_id)
    mine = _province_tis(tis, province)
    merge = mine["merge"]
    assert (merge["hostname"], merge["try_number"], merge["state"]) == ("worker-b", 2, "success")
    for task in ("score", "quality_gate", "publish", "export"):
        assert mine[task]["hostname"] == "worker-b", task
    # The buckets merged before the kill were reused from the store, not merged again.
    assert _merge_entries(seaweedfs, province) == before
    warehouse = cluster.pipeline_env["CRM_WAREHOUSE_URL"]
    order = published_order(warehouse, D0, "initial")
    assert sorted(order) == ["GD", "ZJ"]
    assert snapshot(warehouse) == reference.load(D0, "initial", order)


def test_the_next_night_on_another_worker_from_the_state_on_the_store(
    cluster: CeleryCluster, reference: Reference
) -> None:
    server = cluster.server
    assert server is not None
    [initial] = server.runs("crm_initial_load")
    assert initial["state"] == "success", "the initial load of the test above did not finish"
    initial_tis = server.task_instances("crm_initial_load", initial["dag_run_id"])
    # `publish` runs the load and, beside it, writes the state snapshot the night reads.
    state_hosts = {p: _province_tis(initial_tis, p)["publish"]["hostname"] for p in ("ZJ", "GD")}
    cluster.stop_worker("worker-b")
    worker_c = cluster.start_worker("worker-c")
    assert not worker_c.scratch.exists()  # a machine that never saw these provinces
    server.unpause("crm_daily")
    deadline = time.monotonic() + 600
    while True:
        runs = server.runs("crm_daily")
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"the night of {D1} did not finish; {cluster.logs}"
        time.sleep(3)
    night = runs[0]
    assert night["logical_date"].startswith("2026-11-2"), night  # the run of business date D1
    assert night["state"] == "success"
    tis = server.task_instances("crm_daily", night["dag_run_id"])
    for province in ("ZJ", "GD"):
        assert state_hosts[province] in ("worker-a", "worker-b")
        for task, ti in _province_tis(tis, province).items():
            assert ti["hostname"] == "worker-c", (province, task)
    warehouse = cluster.pipeline_env["CRM_WAREHOUSE_URL"]
    order = published_order(warehouse, D1, "daily")
    assert sorted(order) == ["GD", "ZJ"]
    assert snapshot(warehouse) == reference.load(D1, "daily", order)
