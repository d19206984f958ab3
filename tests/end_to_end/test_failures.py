"""A province whose file is broken fails alone; the command line says so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crm_pipeline.cli import main
from crm_pipeline.run import run_date
from tests import oracle
from tests.end_to_end.conftest import (
    PROVINCES,
    D,
    Sample,
    crm_ids,
    qualified_keys,
    query,
)  # fmt: skip
from tests.oracle import ProvinceResult

# --- a truncated file --------------------------------------------------------------------

TRUNCATED = f"CRD_ACCT_NB_{D}.dat"  # a city branch's file: it fails its province, ZJ


@pytest.fixture
def truncated(sample: Sample, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(sample.landing, landing)
    path = landing / D / "NB" / TRUNCATED
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # its .ok still describes the whole file
    return landing


def test_truncated_file_fails_only_its_province(
    truncated: Path, expected: dict[str, ProvinceResult], tmp_path: Path
) -> None:
    assert [f.name for f in oracle.run_province(truncated, D, "ZJ").failed_files] == [TRUNCATED]
    assert not oracle.run_province(truncated, D, "GD").failed_files
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    summaries = {s.province: s for s in run_date(D, "initial", truncated, None, url, tmp_path)}
    assert set(summaries) == set(PROVINCES)
    assert summaries["ZJ"].status == "failed"
    assert TRUNCATED in (summaries["ZJ"].error or "")
    assert summaries["GD"].status == "published"
    published = query(url, "SELECT province FROM crm_load_batch WHERE status = 'published'")
    assert published == [("GD",)]
    ids = crm_ids(url)
    assert set(ids) == {k for k in qualified_keys(expected) if k[0] == "GD"}


def test_cli_exit_status_and_summary_when_a_province_fails(
    truncated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "run",
            "--date",
            D,
            "--mode",
            "initial",
            "--landing",
            str(truncated),
            "--warehouse",
            f"sqlite:///{tmp_path / 'warehouse.db'}",
            "--staging",
            str(tmp_path / "staging"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 3
    table = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert "province" in table and "status" in table["province"]
    assert table["ZJ"][1] == "failed" and table["GD"][1] == "published"
    assert TRUNCATED in out


# --- rules the generator does not exercise, on hand-made records -------------------------
#
