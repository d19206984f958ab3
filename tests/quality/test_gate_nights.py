"""Nights the gate must hold besides FX: a layout declared one byte short (every record of
its files set aside), and a qualified count that jumps against the previous published
date; and a per-province override of a band."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from crm_pipeline.quality.config import quality
from crm_pipeline.sample import write_sample
from load.warehouse import Warehouse
from tests.quality.conftest import SEED, Night, compare_small_types, failed


def test_a_layout_one_byte_short_holds_the_night(night: Night, own_config: Path) -> None:
    """The issue's case: RTL_CUST declared one byte short sets every RTL customer aside."""
    path = own_config / "layouts.yaml"
    text_ = path.read_text(encoding="utf-8")
    line = "      - {name: name, width: 60, type: text}"
    assert text_.count(line) >= 1
    path.write_text(text_.replace(line, line.replace("60", "59"), 1), encoding="utf-8")
    summary = night.run()
    assert summary.status == "held", summary.error
    rtl = {f.file: f for f in summary.files if f.system == "RTL" and f.entity == "CUST"}
    assert rtl and all(f.set_aside == f.read for f in rtl.values())
    [result] = night.results()
    critical = failed(result)
    for name in rtl:
        assert Decimal(critical[("set_aside_share", name)]) == 1
    # Their accounts go too (orphans): every file over half set aside is named, no other.
    over = {
        f.file
        for f in summary.files
        if f.read >= 100 and Decimal(f.set_aside) / Decimal(f.read) > Decimal("0.5")
    }
    assert set(rtl) <= over
    assert {s for (check, s) in critical if check == "set_aside_share"} == over


def test_a_province_override_tightens_a_band(night: Night, own_config: Path) -> None:
    """ZJ's own band: 5 % set aside is critical there (the default night publishes)."""
    path = own_config / "quality.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["provinces"]["ZJ"] = {"set_aside_share": {"critical": {"max": "0.05"}}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    summary = night.run()
    assert summary.status == "held"
    [result] = night.results()
    over = {
        f.file
        for f in summary.files
        if f.read >= 100 and Decimal(f.set_aside) / Decimal(f.read) > Decimal("0.05")
    }
    assert {s for (c, s) in failed(result) if c == "set_aside_share"} == over
    # The other keys of the check keep their defaults: files under 100 records unchecked.
    assert quality(own_config).for_province("ZJ").set_aside_share.min_records == 100
    assert quality(own_config).for_province("GD").set_aside_share.critical.max == Decimal("0.5")  # type: ignore[union-attr]


def _qualified_by_type(url: str) -> dict[str, int]:
    warehouse = Warehouse(url)
    try:
        with warehouse.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT cust_type, COUNT(*) FROM crm_customer"
                    " WHERE province = 'ZJ' AND qualified GROUP BY cust_type"
                )
            ).all()
    finally:
        warehouse.dispose()
    return {str(t): int(n) for t, n in rows}


def test_qualified_customers_that_halve_hold_the_night(night: Night, own_config: Path) -> None:
    """A later date with half the customers: the qualified count falls by about half
    against the previous published date's."""
    compare_small_types(own_config)
    assert night.run().status == "published"
    before = _qualified_by_type(night.url)
    later = "20261125"
    write_sample(night.landing, date(2026, 11, 25), ["ZJ", "NB"], 120, SEED)
    summary = night.run(day=later)
    assert summary.status == "held", summary.error
    [result] = night.results(date(2026, 11, 25))
    scores = result.metrics["scores"]
    assert sum(s["qualified"] for s in scores.values()) == summary.qualified
    critical = failed(result)
    for kind, count in before.items():
        now = scores[kind]["qualified"]
        change = abs(Decimal(now) / Decimal(count) - 1)
        if change > Decimal("0.3"):
            assert Decimal(critical[("qualified_change", kind)]) == pytest.approx(
                change, rel=Decimal("1e-5")
            )
        else:
            assert ("qualified_change", kind) not in critical
    assert any(c == "qualified_change" for c, _ in critical)


def test_a_band_widened_after_a_held_night_reevaluates_only_the_gate(
    night: Night, own_config: Path
) -> None:
    from tests.quality.conftest import edit_rate, read_rates

    usd = read_rates(night.landing)["USD"][0]
    edit_rate(night.landing, "USD", str(usd * 100))
    assert night.run().status == "held"
    path = own_config / "quality.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["fx_bands"]["USD"] = {"max": str(usd * 1000)}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    quality.cache_clear()
    summary = night.run()
    assert summary.status == "published", summary.error
    held, passed = night.results()
    assert held.verdict == "held" and passed.verdict in ("passed", "warned")
    assert ("fx_band", "USD") not in failed(passed)
    warehouse = Warehouse(night.url)
    try:
        with warehouse.engine.connect() as conn:
            steps = conn.execute(
                text("SELECT name, counts FROM crm_step WHERE run_id = :r ORDER BY step_id"),
                {"r": passed.run_id},
            ).all()
    finally:
        warehouse.dispose()
    skipped = {name for name, counts in steps if '"skipped": 1' in (counts or "")}
    assert {"ingest", "conform", "merge", "score"} <= skipped
    assert "quality_gate" not in skipped
