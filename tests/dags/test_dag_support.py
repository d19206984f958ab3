"""The decisions behind the DAGs, without a scheduler: landing checks, failure reports, secrets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from crm_pipeline import dag_support
from crm_pipeline.dag_support import ProvinceFailed
from tests.dags.conftest import BUSINESS_DATE, truncate

pytestmark = pytest.mark.airflow


def test_landing_states_missing_then_ready_then_broken(crm_env: dict[str, str]) -> None:
    landing = Path(crm_env["CRM_LANDING_DIR"])
    assert dag_support.province_landing(BUSINESS_DATE, "initial", "ZJ").ready
    assert dag_support.fx_landing(BUSINESS_DATE).ready
    # A flag not there yet: keep waiting, naming the file.
    flag = landing / BUSINESS_DATE / "NB" / f"CRD_ACCT_NB_{BUSINESS_DATE}.ok"
    flag.unlink()
    state = dag_support.province_landing(BUSINESS_DATE, "initial", "ZJ")
    assert not state.ready and state.missing == [f"CRD_ACCT_NB_{BUSINESS_DATE}.dat"]
    # A province that sent nothing at all waits too.
    assert not dag_support.province_landing(BUSINESS_DATE, "initial", "SD").ready
    # A truncated file has its flag: no use waiting, the load reports it.
    truncate(landing, "GD")
    state = dag_support.province_landing(BUSINESS_DATE, "initial", "GD")
    assert state.ready and "truncated or corrupt" in state.broken[0]


def test_plan_orders_provinces_and_rejects_unknown_ones(crm_env: dict[str, str]) -> None:
    assert dag_support.plan_run(BUSINESS_DATE, "initial") == ["ZJ", "GD"]
    assert dag_support.plan_run(BUSINESS_DATE, "initial", ["GD", "ZJ"]) == ["ZJ", "GD"]
    with pytest.raises(dag_support.PipelineError, match="XX"):
        dag_support.plan_run(BUSINESS_DATE, "initial", ["XX"])


def test_expected_provinces_come_from_the_setting(
    crm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PROVINCES", "GD,ZJ,BJ")
    assert dag_support.plan_run(BUSINESS_DATE, "daily") == ["ZJ", "GD", "BJ"]


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
    report = dag_support.failure_report(_context(wrapped, "province.load_province"))
    assert (report.province, report.step) == ("GD", "verify files")
    assert report.line() == (
        "CRM FAILURE crm_initial_load manual__1: province GD, step verify files: "
        "X.dat: 10 bytes, flag says 20"
    )


def test_a_sensor_timeout_lists_the_files_still_missing(crm_env: dict[str, str]) -> None:
    landing = Path(crm_env["CRM_LANDING_DIR"])
    (landing / BUSINESS_DATE / "GD" / f"LON_CUST_GD_{BUSINESS_DATE}.ok").unlink()
    report = dag_support.failure_report(
        _context(TimeoutError("Sensor has timed out"), "province.wait_for_files")
    )
    assert report.step.startswith("wait for files (.ok flags)")
    assert f"LON_CUST_GD_{BUSINESS_DATE}.dat" in report.reason


def test_no_password_leaves_in_logs_or_notifications() -> None:
    url = "postgresql+psycopg://crm:s3cret@db.internal/crm"
    assert "s3cret" not in dag_support.safe_url(url)
    assert "s3cret" not in dag_support._redact(f"could not connect to {url}")


def test_notification_only_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_ALERT_WEBHOOK", "CRM_ALERT_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(dag_support, "_setting", lambda name: "")
    report = dag_support.failure_report(
        _context(ProvinceFailed("GD", "ingest", "bad"), "province.load_province")
    )
    assert dag_support.notify(report) == []


def test_previous_month() -> None:
    from datetime import date

    assert dag_support.previous_month(date(2027, 1, 1)) == "202612"
    assert dag_support.previous_month(date(2026, 3, 31)) == "202602"
