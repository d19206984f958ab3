"""The daily run killed with SIGKILL at its step boundaries and inside its load, then
restarted, ends exactly as an uninterrupted daily run (PostgreSQL), committing nothing twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily
from tests.test_crash_restart import snapshot as crm_snapshot
from tests.test_crash_restart import step_counts

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
D0, D1 = "20261124", "20261125"
POINTS = [
    "before:ingest",
    "after:ingest",
    "after:apply",
    "load:stg_customer:1",
    "load:stg_account:1",
    "after:load",
    "after:transactions",
]


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The CRM tables, plus the day's transaction details (loaded after publication)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            txn = sorted(
                tuple(str(v) for v in r)
                for r in conn.execute(text("select province, txn_id, acct_no, amount from crm_txn"))
            )
    finally:
        engine.dispose()
    return {**crm_snapshot(url), "crm_txn": txn}


def test_daily_sigkill_then_restart_on_postgres(
    pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    monkeypatch.setenv("CRM_LOAD_CHUNK_ROWS", "20")
    landing = tmp_path / "landing"
    write_sample(landing, date(2026, 11, 24), ["ZJ", "NB"], 120, 9)
    write_daily(landing, date(2026, 11, 24), 1, seed=9, change_rate=0.1)

    def initial(url: str, staging: Path) -> None:
        [summary] = run_date(D0, "initial", landing, ["ZJ"], url, staging)
        assert summary.status == "published", summary.error

    ref = pg_server.url(pg_server.create_database())
    initial(ref, tmp_path / "ref")
    [daily] = run_date(D1, "daily", landing, ["ZJ"], ref, tmp_path / "ref")
    assert daily.status == "published", daily.error
    expected = snapshot(ref)
    assert expected["crm_txn"], "the day must carry transactions of CRM customers"

    for i, point in enumerate(POINTS):
        url = pg_server.url(pg_server.create_database())
        staging = tmp_path / f"s{i}"
        initial(url, staging)
        initial_steps = len(step_counts(url))
        proc = subprocess.run(
            [sys.executable, "-m", "crm_pipeline.cli", "run", "--date", D1, "--mode", "daily",
             "--landing", str(landing), "--province", "ZJ", "--warehouse", url,
             "--staging", str(staging)],
            env={**os.environ, "CRM_CRASH_AT": point}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, f"{point}: {proc.stderr[-2000:]}"
        before = step_counts(url)
        [summary] = run_date(D1, "daily", landing, ["ZJ"], url, staging)
        # Killed after its last step, the day is complete: the rerun has nothing to do.
        done = "already published" if point == "after:transactions" else "published"
        assert summary.status == done, f"{point}: {summary.error}"
        assert snapshot(url) == expected, f"{point}: differs from an uninterrupted daily run"
        done_before = {n for n, s, _ in before[initial_steps:] if s == "completed"}
        for name, state, counts in step_counts(url)[len(before) :]:
            assert state == "completed", (point, name)
            if name in done_before and name != "load":
                assert counts.get("skipped") == 1, f"{point}: step {name} was redone"
