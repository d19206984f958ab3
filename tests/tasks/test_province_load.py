"""The step a failed province is reported at, read from the run's restart ledger.

Issue 15's second staging bug: the failed step was guessed by walking the initial load's
step names, so a daily run failing in `apply` or `transactions` was reported as "conform".
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from common import settings
from common.staging import StagingArea
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.province_load import load_one_province
from tests.daily.conftest import make_world


@pytest.fixture
def one_daily_night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """ZJ loaded at D0 (initial); D1's daily dumps landed but not loaded."""
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 60, 5)
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    monkeypatch.setenv("CRM_LANDING_DIR", str(world.landing))
    monkeypatch.setenv("CRM_STAGING_DIR", str(world.staging))
    monkeypatch.setenv("CRM_WAREHOUSE_URL", world.url)
    assert load_one_province(world.day(0), "initial", "ZJ")["status"] == "published"
    return world.day(0), world.day(1)


def test_a_daily_run_failing_in_apply_is_reported_at_apply(
    one_daily_night: tuple[str, str],
) -> None:
    d0, d1 = one_daily_night
    shutil.rmtree(StagingArea(settings.staging_dir()).state_dir("ZJ", d0))  # apply's input
    with pytest.raises(ProvinceFailed) as failure:
        load_one_province(d1, "daily", "ZJ")
    assert failure.value.step == "apply"
    assert "state snapshot" in str(failure.value)
