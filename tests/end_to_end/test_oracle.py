"""The oracle against the generator's manifest (no pipeline involved)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests import oracle
from tests.end_to_end.conftest import (
    Sample,
)  # fmt: skip
from tests.oracle import ProvinceResult


def test_oracle_reads_what_the_generator_wrote(
    sample: Sample, expected: dict[str, ProvinceResult]
) -> None:
    """Each line's fate: the manifest's set-aside reasons, flagged ids and filtered accounts."""
    for province, result in expected.items():
        assert not result.failed_files
        names = {f.name for f in result.files}
        assert names == {Path(e["file"]).name for e in sample.entries(province)}
        for f in result.files:
            entry = sample.entry(f.name)
            assert sorted((i["line"], i["reason"]) for i in entry["set_aside_lines"]) == sorted(
                (line.number, line.set_aside) for line in f.lines if line.set_aside
            ), f.name
            assert [i["line"] for i in entry["filtered_accounts"]] == [
                line.number for line in f.lines if line.filtered
            ], f.name
            assert f.flagged == entry["flagged"], f.name
        # The sample exercises merging: records of several systems and branches per
        # customer, and organization codes resolved to their credit code.
        assert sum(len(m.members) > 1 for m in result.merged) > 100
        assert any(
            m.id_type == "23" and any(c.id_type == "21" for c in m.members) for m in result.merged
        )
        city = {"ZJ": "NB", "GD": "SZ"}[province]
        assert any({c.branch for c in m.members} == {province, city} for m in result.merged)
        share = len(result.qualified()) / len(result.merged)
        assert 0.10 <= share <= 0.40, (province, share)


def test_oracle_score_rounding_and_threshold() -> None:
    """The oracle's own arithmetic on hand-computed values (half away from zero, >=)."""
    from fractions import Fraction

    assert oracle.round_fen(Fraction(12345, 1000)) == Decimal("12.35")
    assert oracle.round_fen(Fraction(-12345, 1000)) == Decimal("-12.35")
    assert oracle.round_fen(Fraction(12344999, 1000000)) == Decimal("12.34")
    assert oracle.exact_cny(Decimal("100.01"), Decimal("4.7321")) == Decimal("4.73257321")
    assert oracle.normalize_id("01", "610104620927690") == ("610104196209276908", True)
    assert oracle.normalize_id("21", "ｄ1234567－1")[0] == "D12345671"


# --- the pipeline's run against the manifest and the oracle ------------------------------
