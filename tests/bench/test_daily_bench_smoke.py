"""Smoke runs of bench/daily_vs_initial.py on a small province, so the benchmark cannot
rot: its lines are printed, `--keep` reuses the dumps and the initial load, and
`--postgres` runs the same dumps on a server of its own. Never its timings."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.doc_tools import load_script

BENCH = Path(__file__).resolve().parents[2] / "bench" / "daily_vs_initial.py"


def _bench_module() -> ModuleType:
    return load_script(BENCH, "bench_daily_vs_initial")


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = _bench_module().main(args)
    out = capsys.readouterr().out
    assert status == 0, out
    assert re.search(r"^initial load  ZJ 20261124: +\d+\.\d\d s", out, re.M), out
    assert re.search(r"^daily run     ZJ 20261125: +\d+\.\d\d s .* customers re-scored", out, re.M)
    assert re.search(r"^daily run memory: anonymous \d+ -> peak \d+ MiB", out, re.M), out
    assert re.search(r"^daily / initial = \d\.\d{3} \(1/\d+\.\d\)", out, re.M), out
    return out


def test_kept_dumps_and_initial_load_are_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    args = ["--customers", "400", "--keep", str(tmp_path)]
    first = _run(args, capsys)
    assert "generated in 0.0 s" not in first
    initial = re.search(r"^initial load .*$", first, re.M)
    again = _run(args, capsys)
    assert "generated in 0.0 s" in again and "warehouse: sqlite" in again
    assert initial is not None and initial.group(0) in again  # the first run's, restored


@pytest.mark.postgres
def test_postgres_on_the_kept_dumps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    _run(["--customers", "400", "--keep", str(tmp_path)], capsys)
    out = _run(["--customers", "400", "--keep", str(tmp_path), "--postgres"], capsys)
    assert "warehouse: PostgreSQL (fsync on); generated in 0.0 s" in out
