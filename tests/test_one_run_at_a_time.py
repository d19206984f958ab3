"""One run per province and business date at a time (issue 16, item 2), with real processes.

A run that finds the night's lease held stops at once, naming who holds it; two `crm-pipeline
run` processes started together on one night leave exactly one published batch and a CRM
that a plain rerun confirms; a run killed with SIGKILL holds nothing: the next run goes on,
and the killed run is shown as `died`, not `started` forever.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from load import Warehouse
from load.lease import RunLease

D = "20261124"
DAY = date(2026, 11, 24)
BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=[pytest.mark.postgres]),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return str(request.getfixturevalue("pg_db_url"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crm_pipeline.sample import write_sample

    out = tmp_path_factory.mktemp("landing")
    write_sample(out, DAY, ["ZJ", "NB"], 200, 13)
    return out


def _run(landing: Path, url: str, staging: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crm_pipeline.cli", "run", "--date", D, "--mode", "initial",
         "--landing", str(landing), "--warehouse", url, "--staging", str(staging)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CRM_INGEST_WORKERS": "1", "CRM_LOG_FILE": str(staging / "log"),
             **env},
    )  # fmt: skip


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_a_second_run_stops_naming_the_holder(landing: Path, url: str, tmp_path: Path) -> None:
    warehouse = Warehouse(url)
    warehouse.upgrade()
    with RunLease(warehouse.engine, "ZJ", DAY):
        proc = _run(landing, url, tmp_path / "staging")
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 3, out
    assert "already running since" in out
    assert f"on host {socket.gethostname()} pid {os.getpid()}" in out
    assert _rows(url, "SELECT count(*) FROM crm_load_batch") == [(0,)]


def test_two_runs_at_once_publish_one_batch(landing: Path, url: str, tmp_path: Path) -> None:
    Warehouse(url).upgrade()  # both start from a migrated schema (as the DAG's plan task does)
    first = _run(landing, url, tmp_path / "staging")
    second = _run(landing, url, tmp_path / "staging")
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes in ([0, 0], [0, 3]), outs
    assert _rows(url, "SELECT count(*) FROM crm_load_batch WHERE status = 'published'") == [(1,)]
    again = _run(landing, url, tmp_path / "staging")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "already published" in out, out
    [(published,)] = _rows(url, "SELECT batch_id FROM crm_load_batch WHERE status = 'published'")
    assert _rows(url, "SELECT DISTINCT batch_id FROM crm_customer") == [(published,)]


def test_a_killed_run_holds_nothing_and_is_shown_died(
    landing: Path, url: str, tmp_path: Path
) -> None:
    killed = _run(landing, url, tmp_path / "staging", CRM_CRASH_AT="after:merge")
    killed.communicate(timeout=300)
    assert killed.returncode == -9
    assert _rows(url, "SELECT state FROM crm_run") == [("started",)]  # as the kill left it
    status = subprocess.run(
        [sys.executable, "-m", "crm_pipeline.cli", "status", "--date", D, "--warehouse", url],
        capture_output=True, text=True, env={**os.environ, "CRM_LOG_FILE": str(tmp_path / "l")},
    )  # fmt: skip
    [line] = [ln for ln in status.stdout.splitlines() if ln.strip().startswith("1 ")]
    assert " died " in f" {line} ", status.stdout
    rerun = _run(landing, url, tmp_path / "staging")
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    states = _rows(url, "SELECT state FROM crm_run ORDER BY run_id")
    assert states == [("died",), ("completed",)]
    assert _rows(url, "SELECT count(*) FROM crm_lease") == [(0,)]
