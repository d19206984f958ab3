"""`wait_for_files` defers to its trigger, and the trigger fires once the last flag lands.

The trigger's `run()` is driven with asyncio directly, as the triggerer drives it, against
the sample landing folder; no wall-clock assertion: the test waits for the trigger's own
looks (counted) before it writes the missing flag.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import crm_waiting
import pytest
from crm_waiting import ProvinceFilesSensor, ProvinceFlagsTrigger

from tests.dags.conftest import BUSINESS_DATE

pytestmark = pytest.mark.airflow


class Looks:
    """Counts the looks for a province (from any thread) and signals the n-th."""

    def __init__(self, province: str, wanted: int) -> None:
        self.province, self.wanted, self.count = province, wanted, 0
        self.reached = threading.Event()
        self.lock = threading.Lock()

    def seen(self, province: str) -> None:
        if province != self.province:
            return
        with self.lock:
            self.count += 1
            if self.count >= self.wanted:
                self.reached.set()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Looks]:
    """Every look of GD counted; the second one is necessarily the trigger's."""
    looks = Looks("GD", 2)
    real = crm_waiting._look

    def counting(day: str, mode: str, province: str, *rest: Any) -> Any:
        found = real(day, mode, province, *rest)
        looks.seen(province)
        return found

    monkeypatch.setattr(crm_waiting, "_look", counting)
    yield looks


def _missing_flag(landing: Path) -> tuple[Path, bytes]:
    flag = landing / BUSINESS_DATE / "GD" / f"LON_CUST_GD_{BUSINESS_DATE}.ok"
    content = flag.read_bytes()
    flag.unlink()
    return flag, content


def test_the_trigger_fires_once_the_last_flag_lands(
    crm_env: dict[str, str], counted: Looks
) -> None:
    flag, content = _missing_flag(Path(crm_env["CRM_LANDING_DIR"]))
    counted.wanted = 2  # two looks of the trigger's, both without the flag
    trigger = ProvinceFlagsTrigger(BUSINESS_DATE, "initial", "GD", poll_seconds=0.01)

    async def night() -> Any:
        pending = asyncio.ensure_future(anext(trigger.run()))
        assert await asyncio.to_thread(counted.reached.wait, 60), "the trigger never looked"
        assert not pending.done()  # the flag is missing: it cannot have fired
        flag.write_bytes(content)
        return await asyncio.wait_for(pending, 60)

    event = asyncio.run(night())
    assert event.payload["province"] == "GD"
    assert event.payload["branches"] == ["GD", "SZ"] and event.payload["broken"] == []
    # It serializes to what the triggerer imports (the DAG folder on its path).
    classpath, kwargs = trigger.serialize()
    assert classpath == "crm_waiting.ProvinceFlagsTrigger"
    assert ProvinceFlagsTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_the_sensor_defers_while_a_flag_is_missing(crm_env: dict[str, str]) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    sensor = ProvinceFilesSensor(
        task_id="wait_for_files", province="GD", mode="initial", poke_interval=7, timeout=3600
    )
    context: dict[str, Any] = {"params": {"business_date": BUSINESS_DATE}}
    assert sensor.execute(context) is None  # every flag there: no deferral at all
    assert context["crm_province"] == "GD"
    flag, content = _missing_flag(Path(crm_env["CRM_LANDING_DIR"]))
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(hours=1)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "crm_waiting.ProvinceFlagsTrigger"
    assert kwargs == {
        "day": BUSINESS_DATE,
        "mode": "initial",
        "province": "GD",
        "landing": "",
        "in_order": False,
        "poll_seconds": 7,
    }
    flag.write_bytes(content)
    resumed: dict[str, Any] = {"params": {"business_date": BUSINESS_DATE}}
    sensor.execute_complete(resumed, {"province": "GD", "broken": [], "branches": ["GD"]})
    assert resumed["crm_province"] == "GD"


def test_a_daily_wait_holds_until_the_previous_date_is_published(crm_env: dict[str, str]) -> None:
    from crm_pipeline.tasks.waiting import look_once
    from load.warehouse import Warehouse

    Warehouse(crm_env["CRM_WAREHOUSE_URL"]).upgrade()
    found = look_once("20261125", "daily", "ZJ", in_order=True)
    assert not found.ready and "20261124 is not published yet" in found.waiting_for
