"""`crm-pipeline db upgrade` and `crm-pipeline status`."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_pipeline.cli import main
from load import Warehouse
from load.control import record_checkpoint
from tests.load.factory import DAY1, make_batch, people


def test_db_upgrade_then_status(warehouse_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    head = Warehouse(warehouse_url).head()  # the newest migration, whichever it is
    assert main(["db", "upgrade", "--warehouse", warehouse_url]) == 0
    assert f"upgraded from empty to {head}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--warehouse", warehouse_url]) == 0
    assert f"already at revision {head}" in capsys.readouterr().out
    assert main(["db", "current", "--warehouse", warehouse_url]) == 0
    assert "up to date" in capsys.readouterr().out

    warehouse = Warehouse(warehouse_url, chunk_rows=3)
    try:
        run = warehouse.start_run(DAY1, "ZJ", "initial")
        step = warehouse.start_step(run, "load")
        result = warehouse.write_batch(make_batch(people(8)), run_id=run, step_id=step)
        warehouse.finish_step(step, {"written": result.accounts})
        warehouse.finish_run(run, "completed")
        other = warehouse.start_run(DAY1, "GD", "initial")
        failed = warehouse.start_step(other, "ingest")
        with warehouse.engine.begin() as conn:  # a step's progress, as status shows it
            record_checkpoint(
                conn, step_id=failed, batch_id=None, stream="RTL_ACCT_GD", chunk=4,
                position="line=400",
            )  # fmt: skip
        warehouse.fail_step(failed, "FileRejected: RTL_ACCT_GD: control sum")
        warehouse.finish_run(other, "failed")
    finally:
        warehouse.dispose()

    assert main(["status", "--date", "20261124", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "Status of 2026-11-24" in out
    assert "completed" in out and "failed" in out and "published" in out
    assert "RTL_ACCT_GD checkpoint chunk 4 at line=400" in out
    assert "FileRejected: RTL_ACCT_GD: control sum" in out
    assert "stg_account checkpoint chunk" in out

    assert main(["status", "--date", "20261124", "--province", "GD", "--warehouse",
                 warehouse_url]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "GD" in out and " ZJ " not in out
    assert main(["status", "--date", "20260101", "--warehouse", warehouse_url]) == 0
    assert "nothing recorded" in capsys.readouterr().out


def test_status_without_schema_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["status", "--date", "20261124", "--warehouse", url]) == 1
    assert "db upgrade" in capsys.readouterr().err
