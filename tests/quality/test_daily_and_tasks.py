"""The gate in daily runs (between `apply` and the load) and in the DAG's tasks."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_pipeline.step_names import STEP_TASKS
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.province_load import run_step
from crm_pipeline.tasks.quality import gate_province
from load.quality import QualityResult, results
from load.warehouse import Warehouse
from tests.daily.conftest import World, make_world
from tests.quality.conftest import failed, read_rates, write_rates


@pytest.fixture
def world(tmp_path: Path) -> World:
    """ZJ at D0 (initial) published; D1's daily dumps landed."""
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 120, 7)
    [summary] = world.run(0, "initial")
    assert summary.status == "published", summary.error
    return world


def _latest(world: World, index: int) -> list[QualityResult]:
    warehouse = Warehouse(world.url)
    try:
        return results(warehouse.engine, world.d0 + timedelta(days=index), "ZJ")
    finally:
        warehouse.dispose()


def test_a_daily_night_compares_its_rates_with_the_previous_date(world: World) -> None:
    d0, d1 = read_rates(world.landing, world.day(0)), read_rates(world.landing, world.day(1))
    warehouse = Warehouse(world.url)
    try:
        with warehouse.engine.connect() as conn:
            counts = dict(conn.execute(text(
                "SELECT cust_type, COUNT(*) FROM crm_customer"
                " WHERE province = 'ZJ' AND qualified GROUP BY cust_type"
            )).all())  # fmt: skip
    finally:
        warehouse.dispose()
    [summary] = world.run(1)
    assert summary.status == "published", summary.error
    # The world's ~60 qualified customers are under the default min_qualified: each type's
    # totals are not compared, and the night says so.
    for name in ("qualified_change", "score_change"):
        for kind, n in counts.items():
            note = (
                f"quality note: {name} {kind} not compared: {n} qualified customers on"
                f" {world.d0.isoformat()} (min_qualified 1000)"
            )
            assert note in summary.notes, summary.notes
    [result] = _latest(world, 1)
    assert result.mode == "daily" and result.verdict in ("passed", "warned")
    assert not failed(result)
    assert all(abs(d1[c][0] / d0[c][0] - 1) <= Decimal("0.03") for c in d1)
    # The rates it validated and stored (the next night's "previous") are the day's file.
    stored = {r["currency"]: r["cny_per_100"] for r in result.metrics["rates"]}
    assert {c: Decimal(v) for c, v in stored.items() if c != "CNY"} == {
        c: v for c, (v, _) in d1.items()
    }


def test_a_daily_rate_jump_holds_the_daily_night(world: World) -> None:
    usd = read_rates(world.landing, world.day(1))["USD"][0]
    new = (usd * Decimal("1.2")).quantize(Decimal("0.0001"))  # in band, 20 % off the last
    lines = [
        f"{c}|{new if c == 'USD' else v}|{d}"
        for c, (v, d) in read_rates(world.landing, world.day(1)).items()
    ]
    write_rates(world.landing, lines, world.day(1))
    [summary] = world.run(1)
    assert summary.status == "held", summary.error
    [result] = _latest(world, 1)
    previous = read_rates(world.landing, world.day(0))["USD"][0]
    observed = Decimal(failed(result)[("fx_change", "USD")])
    assert observed == pytest.approx(abs(new / previous - 1), rel=Decimal("1e-5"))


def test_the_province_task_fails_a_held_night_with_its_data_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world = make_world(tmp_path, date(2026, 11, 24), 0, ["ZJ", "NB"], 60, 5)
    monkeypatch.setenv("CRM_LANDING_DIR", str(world.landing))
    monkeypatch.setenv("CRM_STAGING_DIR", str(world.staging))
    monkeypatch.setenv("CRM_WAREHOUSE_URL", world.url)
    edit_rate_at(world.landing, world.day(0), "EUR", "0.00")
    caplog.set_level(logging.INFO)
    Warehouse(world.url).upgrade()  # what the DAG's plan task does before the step tasks
    tasks = [task for task, _ in STEP_TASKS["initial"]]
    for task in tasks[: tasks.index("quality_gate")]:  # the step tasks before the gate pass
        assert run_step(world.day(0), "initial", "ZJ", task)["status"] == "stopped"
    with pytest.raises(ProvinceFailed) as failure:
        run_step(world.day(0), "initial", "ZJ", "quality_gate")
    assert failure.value.step == "quality_gate"
    assert "fx_positive EUR" in str(failure.value)
    assert "Data Docs: file://" in caplog.text
    with pytest.raises(ProvinceFailed, match="held, not published: fx_positive EUR"):
        gate_province(world.day(0), "initial", "ZJ")


def edit_rate_at(landing: Path, day: str, currency: str, rate: str) -> None:
    write_rates(
        landing,
        [
            f"{c}|{rate if c == currency else v}|{d}"
            for c, (v, d) in read_rates(landing, day).items()
        ],
        day,
    )
