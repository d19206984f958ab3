"""The state snapshot is written while the warehouse loads, and a published batch always
has its snapshot: the load waits for it before publishing, and does not publish without it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

import crm_pipeline.initial as initial
from common.jobs import JobLedger
from common.staging import StagingArea
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from load.warehouse import Warehouse
from tests.test_crash_restart import step_rows

DAY = date(2026, 11, 24)
D = "20261124"


def test_no_publication_without_the_state_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    write_sample(landing, DAY, ["ZJ", "NB"], 60, 5)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    staging = tmp_path / "staging"
    real = initial.write_state

    def broken(*args: Any, **kwargs: Any) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(initial, "write_state", broken)
    [failed] = run_date(D, "initial", landing, ["ZJ"], url, staging)
    # not a data problem, but contained: the province fails with a one-line reason
    assert failed.status == "failed"
    assert failed.error == "unexpected error: OSError: disk full"
    assert not Warehouse(url).is_published(DAY, "ZJ", "initial")
    states = {name: (state, error) for name, state, error in step_rows(url, "error")}
    assert states["state"][0] == "failed" and "disk full" in (states["state"][1] or "")
    assert states["load"][0] == "failed"  # staged, not published
    assert not StagingArea(staging).state_dir("ZJ", D).exists()

    monkeypatch.setattr(initial, "write_state", real)
    [again] = run_date(D, "initial", landing, ["ZJ"], url, staging)
    assert again.status == "published", again.error
    snapshot = StagingArea(staging).state_dir("ZJ", D)
    assert (snapshot / "customers.arrow").exists() and (snapshot / "accounts.arrow").exists()
    ledger = JobLedger(StagingArea(staging).run(D, "ZJ", "initial").jobs)
    manifest = ledger.done("load")
    assert manifest is not None
    assert manifest["counts"]["chunks_skipped"] >= 1  # the load went on from its staged chunks
