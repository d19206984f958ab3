"""The failure callback: the report built from Airflow's context, and its notifications."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from crm_alerts import failure_report, notify

from crm_pipeline.tasks.failures import ProvinceFailed
from tests.dags.conftest import BUSINESS_DATE

pytestmark = pytest.mark.airflow


def _context(exc: BaseException | None, task_id: str, label: str = "GD") -> dict[str, object]:
    ti = SimpleNamespace(task_id=task_id, rendered_map_index=label, dag_id="crm_initial_load")
    return {
        "ti": ti,
        "exception": exc,
        "dag": SimpleNamespace(dag_id="crm_initial_load"),
        "dag_run": SimpleNamespace(run_id="manual__1"),
        "params": {"business_date": BUSINESS_DATE},
    }


def test_failure_report_names_province_step_and_reason() -> None:
    cause = ProvinceFailed("GD", "verify files", "X.dat: 10 bytes, flag says 20")
    wrapped = RuntimeError(str(cause))
    wrapped.__cause__ = cause  # as the DAG wraps it in AirflowFailException
    report = failure_report(_context(wrapped, "province.ingest"))
    assert (report.province, report.step) == ("GD", "verify files")
    assert report.line() == (
        "CRM FAILURE crm_initial_load manual__1: province GD, step verify files: "
        "X.dat: 10 bytes, flag says 20"
    )


def test_a_sensor_timeout_lists_the_files_still_missing(crm_env: dict[str, str]) -> None:
    landing = Path(crm_env["CRM_LANDING_DIR"])
    (landing / BUSINESS_DATE / "GD" / f"LON_CUST_GD_{BUSINESS_DATE}.ok").unlink()
    report = failure_report(
        _context(TimeoutError("Sensor has timed out"), "province.wait_for_files")
    )
    assert report.step.startswith("wait for files (.ok flags)")
    assert f"LON_CUST_GD_{BUSINESS_DATE}.dat" in report.reason


def test_notification_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_ALERT_WEBHOOK", "CRM_ALERT_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("crm_alerts.setting", lambda name: "")
    report = failure_report(_context(ProvinceFailed("GD", "ingest", "bad"), "province.ingest"))
    assert notify(report) == []
