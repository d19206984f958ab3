"""A normal night: about 1 % of every file's records bad. It publishes, with no warning."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

import crm_pipeline.sample.initial_files as initial_files
from crm_pipeline.cli.quality import render
from crm_pipeline.sample import write_sample
from tests import oracle
from tests.quality.conftest import DAY, Night, reflag


def _spoil(path: Path, share: Decimal) -> int:
    """Append ceil(share x records) lines of the wrong length (set aside for `byte_length`
    or `field_count`, counted 0 in the control sum); how many."""
    system, entity = path.name.split("_")[:2]
    layout = oracle.layouts().layout_for(system, entity)
    end = b"\r\n" if layout.line_end == "crlf" else b"\n"
    records = len(oracle.split_lines(path.read_bytes()))
    bad = math.ceil(records * share)
    with path.open("ab") as handle:
        handle.write(b"".join(b"BROKEN" + end for _ in range(bad)))
    reflag(path)
    return bad


def test_a_night_with_one_percent_bad_records_publishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    with monkeypatch.context() as patch:  # the generator's own bad lines off: 1 % exactly
        patch.setattr(initial_files, "few", lambda n: 0)
        write_sample(landing, DAY, ["ZJ"], 1000, 23)
    spoiled = {
        p.name: _spoil(p, Decimal("0.01"))
        for p in sorted((landing / DAY.strftime("%Y%m%d") / "ZJ").glob("*.dat"))
    }
    night = Night(landing, tmp_path / "staging", f"sqlite:///{tmp_path / 'warehouse.db'}")
    summary = night.run()
    assert summary.status == "published", summary.error
    for f in summary.files:
        assert f.set_aside == spoiled[f.file], f
        assert Decimal("0.01") <= Decimal(f.set_aside) / f.read < Decimal("0.02")
    total = sum(spoiled.values())
    assert Decimal(total) / summary.total("read") < Decimal("0.012")
    [result] = night.results()
    assert (result.verdict, result.failures) == ("passed", [])
    # The first night of ZJ: nothing to compare with, said once, not failed.
    note = (
        "no previous published date of ZJ: records_change, fx_change,"
        " qualified_change and score_change not compared (first night)"
    )
    assert summary.notes == [f"quality note: {note}"]
    # ... and `crm-pipeline quality` shows it, from the warehouse.
    assert f"  note     {note}" in render(night.results()).splitlines()
