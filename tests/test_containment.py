"""Containment (issue 16, item 7): an unexpected error fails its province with a one-line
reason on the console and its traceback in the log file; the other provinces go on and the
summary prints. A wrong date or an unreachable warehouse is one line, never a traceback,
and never shows a password."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

import crm_pipeline.initial as initial
from crm_pipeline.cli import main
from crm_pipeline.sample import write_sample

D = "20261124"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_LOG_FILE", str(tmp_path / "crm.log"))
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    out = tmp_path / "landing"
    write_sample(out, date(2026, 11, 24), ["ZJ", "NB", "GD"], 40, 3)
    return out


def _run(landing: Path, tmp_path: Path, *extra: str) -> int:
    return main(
        ["run", "--date", D, "--mode", "initial", "--landing", str(landing),
         "--warehouse", f"sqlite:///{tmp_path / 'w.db'}", "--staging", str(tmp_path / "st"),
         *extra]
    )  # fmt: skip


def test_an_unexpected_error_fails_only_its_province(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    real = initial.InitialLoad.run

    def deep(self: initial.InitialLoad) -> None:
        if self.province == "ZJ":
            raise RecursionError("maximum recursion depth exceeded")
        real(self)

    monkeypatch.setattr(initial.InitialLoad, "run", deep)
    status = _run(landing, tmp_path)
    out = capsys.readouterr()
    assert status == 3  # some provinces failed, the others published
    assert "Traceback" not in out.out + out.err
    lines = out.out.splitlines()
    assert any(line.startswith("GD ") and "published" in line for line in lines)
    assert any(line.startswith("ZJ ") and "failed" in line for line in lines)
    assert "ZJ: unexpected error: RecursionError: maximum recursion depth exceeded" in out.out
    log = (tmp_path / "crm.log").read_text()
    assert "Traceback" in log and "RecursionError" in log


def test_a_date_not_in_yyyymmdd_is_one_line(landing: Path, tmp_path: Path, capsys: Any) -> None:
    status = main(["run", "--date", "2026-13-45", "--mode", "initial", "--landing", str(landing),
                   "--warehouse", f"sqlite:///{tmp_path / 'w.db'}"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert err.strip() == "crm-pipeline: business date '2026-13-45': expected YYYYMMDD"


def test_an_unreachable_warehouse_is_one_line_without_its_password(
    landing: Path, tmp_path: Path, capsys: Any
) -> None:
    url = "postgresql+psycopg://crm:s3cretpw@127.0.0.1:1/crm"  # nothing listens on port 1
    status = main(["run", "--date", D, "--mode", "initial", "--landing", str(landing),
                   "--warehouse", url, "--staging", str(tmp_path / "st")])  # fmt: skip
    out = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in out.out + out.err
    assert "s3cretpw" not in out.out + out.err
    [line] = out.err.strip().splitlines()
    assert line.startswith(
        "crm-pipeline: cannot open the warehouse postgresql+psycopg://crm:***@127.0.0.1:1/crm: "
        "OperationalError: connection failed"
    ), line
    assert "s3cretpw" not in (tmp_path / "crm.log").read_text()


def test_a_read_only_warehouse_url_creates_nothing_and_is_one_line(
    landing: Path, tmp_path: Path, capsys: Any
) -> None:
    """`sqlite:///file:...?mode=ro&uri=true` once created a new database under the project
    and published there; now a missing read-only file cannot be opened, and an existing
    read-only warehouse fails each province with one line (nothing written)."""
    missing = tmp_path / "missing.db"
    url = f"sqlite:///file:{missing}?mode=ro&uri=true"
    status = main(["run", "--date", D, "--mode", "initial", "--landing", str(landing),
                   "--warehouse", url, "--staging", str(tmp_path / "st")])  # fmt: skip
    out = capsys.readouterr()
    assert status == 1 and "Traceback" not in out.out + out.err
    [line] = out.err.strip().splitlines()
    assert line.startswith("crm-pipeline: cannot open the warehouse") and "unable to open" in line
    assert not missing.exists()
    assert _run(landing, tmp_path) == 0  # a warehouse, published; then opened read-only
    read_only = f"sqlite:///file:{tmp_path / 'w.db'}?mode=ro&uri=true"
    status = main(["run", "--date", D, "--mode", "initial", "--landing", str(landing), "--force",
                   "--warehouse", read_only, "--staging", str(tmp_path / "st")])  # fmt: skip
    out = capsys.readouterr()
    assert status != 0 and "Traceback" not in out.out + out.err
    failed = [line for line in out.out.splitlines() if "readonly database" in line]
    assert sorted(line.split(":")[0] for line in failed) == ["GD", "ZJ"], out.out
