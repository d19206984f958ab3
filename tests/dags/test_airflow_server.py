"""End to end through Airflow itself: API server, scheduler and DAG processor on 127.0.0.1.

The DAG is triggered through the REST API v2 with a JWT from the simple auth manager,
exactly as an operator's script would; the tasks run under the LocalExecutor in their own
processes, read the sample landing zone and write the SQLite warehouse in tmp. Slow (the
components (and the triggerer, for deferred waits) start in about half a minute on two cores), hence `slow`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import AIRFLOW_BIN, BRANCHES, truncate
from tests.servers.airflow_api import (
    Server,
    base_env,
    start_component,
    stop_components,
    wait_ready,
)
from tests.servers.postgres import free_port

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.xdist_group("airflow")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("airflow-server")
    logs = root / "logs"
    logs.mkdir()
    port = free_port()
    env = base_env(root, port)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "CRM_STAGING_DIR": str(root / "staging"),
            "CRM_EXPORT_DIR": str(root / "export"),
            "CRM_WAREHOUSE_URL": f"sqlite:///{root / 'warehouse.db'}",
            "CRM_LANDING_DIR": str(root / "landing"),
        }
    )
    subprocess.run(
        [str(AIRFLOW_BIN), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    processes = [
        start_component([name], env, logs / f"{name}.log")
        for name in ("api-server", "scheduler", "dag-processor", "triggerer")
    ]
    srv = Server(base=f"http://127.0.0.1:{port}", home=root / "home", root=root, env=env)
    try:
        wait_ready(srv, processes, logs)
        yield srv
    finally:
        stop_components(processes)


def _landing(root: Path, day: date) -> Path:
    from crm_pipeline.sample import write_sample

    landing = root / f"landing-{day:%Y%m%d}"
    write_sample(landing, day, BRANCHES, 60, 23)
    return landing


def _by_label(tis: list[dict[str, Any]], task_id: str) -> dict[str, str]:
    return {
        str(t.get("rendered_map_index") or t["map_index"]): str(t["state"])
        for t in tis
        if t["task_id"] == task_id
    }


def _batch_status(server: Server, day: date, province: str) -> str | None:
    from load.warehouse import Warehouse

    return Warehouse(server.env["CRM_WAREHOUSE_URL"]).batch_status(day, province, "initial")


def test_initial_load_through_the_rest_api(server: Server) -> None:
    day = date(2026, 11, 24)
    landing = _landing(server.root, day)
    run_id = server.trigger(
        "crm_initial_load", {"business_date": f"{day:%Y%m%d}", "landing": str(landing)}
    )
    assert server.wait("crm_initial_load", run_id) == "success"
    tis = server.task_instances("crm_initial_load", run_id)
    assert _by_label(tis, "province.wait_for_files") == {"ZJ": "success", "GD": "success"}
    for task in ("fetch", "ingest", "conform", "merge", "score", "publish"):
        assert _by_label(tis, f"province.{task}") == {"ZJ": "success", "GD": "success"}, task
    assert {t["task_id"]: t["state"] for t in tis if t["map_index"] == -1} == {
        "plan": "success",
        "wait_for_fx_rates": "success",
        "stage_fx_rates": "success",
        "summary": "success",
    }
    for province in ("ZJ", "GD"):
        assert _batch_status(server, day, province) == "published"
    # The per-province asset got one event each, carrying the business date and batch.
    events = server.request("GET", "/api/v2/assets/events?limit=50")["asset_events"]
    by_uri = {e["uri"]: e["extra"] for e in events if e["uri"].startswith("crm://warehouse/")}
    assert set(by_uri) == {"crm://warehouse/ZJ", "crm://warehouse/GD"}
    assert all(extra["business_date"] == f"{day:%Y%m%d}" for extra in by_uri.values())
    # The load log shows the reconciliation of every file, and no secret.
    zj = next(
        t for t in tis if t["task_id"] == "province.publish" and t.get("rendered_map_index") == "ZJ"
    )
    text = server.log_text(
        "crm_initial_load", run_id, zj["task_id"], zj["map_index"], zj["try_number"]
    )
    assert "RTL_ACCT_ZJ_20261124.dat: read" in text and "= kept" in text
    assert server.env["AIRFLOW__API_AUTH__JWT_SECRET"] not in text


def test_a_corrupt_province_fails_alone_with_its_reason(server: Server) -> None:
    day = date(2026, 11, 25)
    landing = _landing(server.root, day)
    broken = truncate(landing, "GD", f"{day:%Y%m%d}")
    run_id = server.trigger(
        "crm_initial_load", {"business_date": f"{day:%Y%m%d}", "landing": str(landing)}
    )
    assert server.wait("crm_initial_load", run_id) == "failed"
    tis = server.task_instances("crm_initial_load", run_id)
    assert _by_label(tis, "province.ingest") == {"ZJ": "success", "GD": "failed"}
    assert _batch_status(server, day, "ZJ") == "published"
    assert _batch_status(server, day, "GD") != "published"
    gd = next(
        t for t in tis if t["task_id"] == "province.ingest" and t.get("rendered_map_index") == "GD"
    )
    assert gd["try_number"] == 1  # a corrupt file is not retried: the reason is shown at once
    text = server.log_text(
        "crm_initial_load", run_id, gd["task_id"], gd["map_index"], gd["try_number"]
    )
    assert broken.name in text and "truncated or corrupt" in text
    assert "province GD, step ingest" in text
