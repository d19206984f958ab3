"""Smoke run of bench/initial_load.py at 100,000 account records, so the benchmark cannot rot.

It generates the province, loads it into the session's PostgreSQL (a fresh database),
runs the two references (floor and DuckDB peer) and prints the table. Only that it ran
and printed the table is checked, never its timings.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.doc_tools import load_script

pytestmark = [pytest.mark.postgres]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "initial_load.py"


def _bench_module() -> ModuleType:
    return load_script(BENCH, "bench_initial_load")


def test_initial_load_bench_prints_its_table(
    pg_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_module()
    status = bench.main(
        ["--accounts", "100000", "--work", str(tmp_path), "--warehouse-url", pg_db_url]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "--accounts 100,000" in out
    for step in (
        "ingest: parse, type, stage",
        "conform:",
        "merge customers",
        "score",
        "warehouse load",
        "PIPELINE end to end (run_date)",
        "FLOOR (read fixed + csv delimited)",
        "PEER DuckDB (parse, merge, score)",
    ):
        assert re.search(rf"^{re.escape(step)}.*\s\d[\d,]*\.\d\d\s", out, re.M), (step, out)
    assert re.search(r"^pipeline / floor: \d+\.\dx$", out, re.M), out
    assert re.search(r"^pipeline / peer: +\d+\.\d\dx$", out, re.M), out
    assert "published" in out
    # The dump is reused by a second run of the same size and seed.
    assert (tmp_path / "landing-100000-s7" / "READY").exists()
