"""A report on a database with no schema (a wrong --warehouse, or `db upgrade` never run)
is refused in one line naming it, never answered with "nothing ran"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crm_pipeline.cli import main


@pytest.mark.parametrize(
    "command",
    [["status", "--date", "20261124"], ["quality", "--date", "20261124", "--province", "ZJ"]],
)
def test_a_report_on_a_database_without_schema_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("CRM_LOG_FILE", str(tmp_path / "crm.log"))
    empty = tmp_path / "other.db"
    sqlite3.connect(empty).close()
    assert main([*command, "--warehouse", f"sqlite:///{empty}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("crm-pipeline: ") and "other.db" in err[0]
    assert "no schema; run `crm-pipeline db upgrade`" in err[0]
