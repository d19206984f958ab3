"""`dag.test()` of the load DAGs on generated data, checking the warehouse afterwards.

`dag.test()` runs every task in this process against the throwaway metadata database, so
these tests see exactly what the tasks do (logs, XCom, asset events) in seconds, without
a scheduler. Landing, staging and the SQLite warehouse live in tmp_path and reach the
tasks through CRM_LANDING_DIR / CRM_STAGING_DIR / CRM_WAREHOUSE_URL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.dags.conftest import BUSINESS_DATE, DAGS, truncate
from tests.dags.test_deferred_wait import Looks
from tests.dags.test_deferred_wait import counted as counted  # noqa: F401 - a fixture

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow")]

DAY = date(2026, 11, 24)


def _dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS)).dags[dag_id]


def _states(run: Any, task_id: str) -> dict[str, str]:
    return {
        str(ti.rendered_map_index): str(ti.state)
        for ti in run.get_task_instances()
        if ti.task_id == task_id
    }


def _warehouse(env: dict[str, str]) -> Any:
    from load.warehouse import Warehouse

    return Warehouse(env["CRM_WAREHOUSE_URL"])


def _published_batches(env: dict[str, str]) -> list[tuple[str, int]]:
    from sqlalchemy import select

    from load.tables import crm_load_batch

    with _warehouse(env).engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.province, crm_load_batch.c.batch_id).where(
                crm_load_batch.c.status == "published"
            )
        ).all()
    return sorted((str(p), int(b)) for p, b in rows)


def _xcoms(run: Any, task_id: str, key: str) -> list[Any]:
    """The XCom values a task's instances (all map indexes) pushed under `key`."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key)
        ).all()
        return [XComModel.deserialize_value(row) for row in rows]


def _asset_events(uri_prefix: str) -> list[tuple[str, dict[str, Any]]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return [
            (e.asset.uri, dict(e.extra or {}))
            for e in session.query(AssetEvent).all()
            if e.asset.uri.startswith(uri_prefix)
        ]


INITIAL_TASKS = ["wait_for_files", "fetch", "ingest", "conform", "merge", "score",
                 "quality_gate", "publish", "export"]  # fmt: skip


def _flag_lands_after_two_looks(landing: Path, looks: Looks) -> threading.Thread:
    """GD's last flag taken away, put back by a thread once GD was looked at twice: by the
    sensor (one look, then it defers) and by its trigger, which must then fire."""
    flag = landing / BUSINESS_DATE / "GD" / f"LON_CUST_GD_{BUSINESS_DATE}.ok"
    content = flag.read_bytes()
    flag.unlink()

    def land() -> None:
        looks.reached.wait(120)  # bounded: a broken trigger fails the test, never hangs it
        flag.write_bytes(content)

    thread = threading.Thread(target=land, daemon=True)
    thread.start()
    return thread


def test_initial_load_publishes_every_province(
    airflow_db: str, crm_env: dict[str, str], counted: Looks
) -> None:
    lander = _flag_lands_after_two_looks(Path(crm_env["CRM_LANDING_DIR"]), counted)
    run = _dag("crm_initial_load").test(run_conf={"business_date": BUSINESS_DATE})
    lander.join()
    assert run.state == "success"
    assert counted.reached.is_set(), "GD's wait was not resumed by its trigger"
    for task in INITIAL_TASKS:
        assert _states(run, f"province.{task}") == {"ZJ": "success", "GD": "success"}, task
    warehouse = _warehouse(crm_env)
    for province in ("ZJ", "GD"):
        assert warehouse.batch_status(DAY, province, "initial") == "published"
    batches = _published_batches(crm_env)
    assert [p for p, _ in batches] == ["GD", "ZJ"]
    events = dict(_asset_events("crm://warehouse/"))
    assert set(events) >= {"crm://warehouse/ZJ", "crm://warehouse/GD"}
    assert {e["business_date"] for e in events.values()} >= {BUSINESS_DATE}
    assert {e["batch_id"] for e in events.values()} >= {b for _, b in batches}
    # Each step task reports its own step; they add up to what was published.
    scored = {r["province"]: r for r in _xcoms(run, "province.score", "return_value")}
    published = {r["province"]: r for r in _xcoms(run, "province.publish", "return_value")}
    assert {(r["step"], r["status"]) for r in scored.values()} == {("score", "stopped")}
    for province in ("ZJ", "GD"):
        assert published[province]["qualified"] == scored[province]["counts"]["qualified"]
    # The export task wrote each published batch's files (no CRM data server connection
    # here: written, not pushed), the customers file holding the published customers.
    exported = {r["province"]: r for r in _xcoms(run, "province.export", "return_value")}
    assert {r["status"] for r in exported.values()} == {"exported"}
    for province, batch_id in batches:
        assert exported[province]["batch_id"] == str(batch_id)
        folder = Path(crm_env["CRM_EXPORT_DIR"]) / BUSINESS_DATE / province
        customers = (folder / f"CRM_CUST_{province}_{BUSINESS_DATE}.dat").read_bytes()
        with warehouse.engine.connect() as conn:
            written = conn.exec_driver_sql(
                "SELECT count(*) FROM crm_customer WHERE province = ?", (province,)
            ).scalar_one()
        assert customers.count(b"\n") == written > 0, province

    # A rerun (an operator clearing the run) changes nothing and duplicates nothing.
    events_before = len(_asset_events("crm://warehouse/"))
    again = _dag("crm_initial_load").test(run_conf={"business_date": BUSINESS_DATE})
    assert again.state == "success"
    assert _published_batches(crm_env) == batches
    for task in ("ingest", "score", "publish"):
        results = _xcoms(again, f"province.{task}", "return_value")
        assert {r["status"] for r in results} == {"already published"}, task
    assert len(_asset_events("crm://warehouse/")) == events_before


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A webhook receiver on 127.0.0.1, configured the way an operator would (env)."""
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CRM_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    yield _Hook.received
    server.shutdown()


def test_a_corrupt_province_fails_alone_and_is_notified(
    airflow_db: str, crm_env: dict[str, str], webhook: list[dict[str, Any]]
) -> None:
    broken = truncate(Path(crm_env["CRM_LANDING_DIR"]), "GD")
    run = _dag("crm_initial_load").test(run_conf={"business_date": BUSINESS_DATE})
    assert run.state == "failed"  # the summary task says a province is missing
    # The file check before the first step fails the `ingest` task; GD stops there.
    assert _states(run, "province.ingest") == {"ZJ": "success", "GD": "failed"}
    # A task that never ran has no label of its own: GD's later tasks show map index 1.
    assert _states(run, "province.publish") == {"ZJ": "success", "1": "upstream_failed"}
    [gd] = [
        ti
        for ti in run.get_task_instances()
        if ti.task_id == "province.ingest" and ti.rendered_map_index == "GD"
    ]
    assert gd.try_number == 1  # a data problem is not retried
    warehouse = _warehouse(crm_env)
    assert warehouse.batch_status(DAY, "ZJ", "initial") == "published"
    assert warehouse.batch_status(DAY, "GD", "initial") != "published"
    [message] = webhook
    assert message["province"] == "GD"
    assert message["step"] == "ingest"
    assert broken.name in message["reason"] and "truncated or corrupt" in message["reason"]


def test_formula_trial_writes_its_report(airflow_db: str, crm_env: dict[str, str]) -> None:
    load = _dag("crm_initial_load").test(
        run_conf={"business_date": BUSINESS_DATE, "provinces": ["ZJ"]}
    )
    assert load.state == "success"
    run = _dag("crm_formula_trial").test(
        run_conf={
            "formula_file": "scoring_formulas/reference.yaml",
            "province": "ZJ",
            "business_date": BUSINESS_DATE,
        }
    )
    assert run.state == "success"
    [path] = _xcoms(run, "formula_trial", "return_value")
    report = Path(path)
    assert report.is_file() and report.name == "report.html"
    assert report.is_relative_to(Path(crm_env["CRM_STAGING_DIR"]))
    assert _xcoms(run, "formula_trial", "_link_TrialReportLink") == [report.resolve().as_uri()]
    from load import formula_history

    warehouse = _warehouse(crm_env)
    try:  # recorded in the configured warehouse, like the analysts' command
        [trial] = formula_history.trials(warehouse.engine, name="reference")
    finally:
        warehouse.dispose()
    assert trial.report == str(report) and [c.province for c in trial.counts] == ["ZJ", "ZJ"]


def test_daily_loads_each_business_date_in_order(airflow_db: str, crm_env: dict[str, str]) -> None:
    import pendulum

    from crm_pipeline.sample.daily import write_daily
    from crm_pipeline.tasks.waiting import previous_day_gap

    landing = Path(crm_env["CRM_LANDING_DIR"])
    initial = _dag("crm_initial_load").test(run_conf={"business_date": BUSINESS_DATE})
    assert initial.state == "success"
    write_daily(landing, DAY, 2, seed=11)
    warehouse = _warehouse(crm_env)
    daily = _dag("crm_daily")
    # Nights load in order per province: D+2 before D+1 waits (checked without running it).
    assert "20261125 is not published" in previous_day_gap("20261126", "ZJ")
    for day in (date(2026, 11, 25), date(2026, 11, 26)):
        # The run for business date D is the one whose logical date is D.
        run = daily.test(
            logical_date=pendulum.datetime(day.year, day.month, day.day, 1, tz="Asia/Shanghai")
        )
        assert run.state == "success", day
        for task in ("wait_for_files", "fetch", "ingest", "apply", "publish", "transactions"):
            assert _states(run, f"province.{task}") == {"ZJ": "success", "GD": "success"}, task
        for province in ("ZJ", "GD"):
            assert warehouse.batch_status(day, province, "daily") == "published"
