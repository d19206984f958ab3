"""The step a failed province is reported at: the step that raised, in the daily mode too.

Issue 15's second staging bug: the failed step was guessed by walking the initial load's
step names, so a daily run failing in `apply` or `transactions` was reported as "conform".
Since issue 19 each step is its own task, and the step that raised says so itself.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from common import settings
from common.staging import StagingArea
from crm_pipeline.step_names import STEP_TASKS
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.province_load import run_step
from load.warehouse import Warehouse
from tests.daily.conftest import make_world


@pytest.fixture
def one_daily_night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """ZJ loaded at D0 (initial); D1's daily dumps landed but not loaded."""
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 60, 5)
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    monkeypatch.setenv("CRM_LANDING_DIR", str(world.landing))
    monkeypatch.setenv("CRM_STAGING_DIR", str(world.staging))
    monkeypatch.setenv("CRM_WAREHOUSE_URL", world.url)
    Warehouse(world.url).upgrade()  # the DAG's `plan` task does it first
    results = [run_step(world.day(0), "initial", "ZJ", t) for t, _ in STEP_TASKS["initial"]]
    assert results[-1]["status"] == "published"
    return world.day(0), world.day(1)


def test_a_daily_run_failing_in_apply_is_reported_at_apply(
    one_daily_night: tuple[str, str],
) -> None:
    d0, d1 = one_daily_night
    shutil.rmtree(StagingArea(settings.staging_dir()).state_dir("ZJ", d0))  # apply's input
    assert run_step(d1, "daily", "ZJ", "ingest")["status"] == "stopped"
    with pytest.raises(ProvinceFailed) as failure:
        run_step(d1, "daily", "ZJ", "apply")
    assert failure.value.step == "apply"
    # A later task run without the earlier one still names the step that raised.
    with pytest.raises(ProvinceFailed) as failure:
        run_step(d1, "daily", "ZJ", "transactions")
    assert failure.value.step == "apply"
    assert "state snapshot" in str(failure.value)
