"""Wrong FX files hold the province (issue 17): x100, missing, zero, negative, stale, a
duplicate line. The expected failures are derived from the file itself, not the gate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.quality.conftest import D, Night, edit_rate, failed, fx_path, read_rates, reflag


def test_a_sample_night_publishes_with_its_set_aside_warnings(night: Night) -> None:
    summary = night.run()
    assert summary.status == "published", summary.error
    [result] = night.results()
    assert result.verdict == "warned"
    assert failed(result, "critical") == {}
    # The warnings are the files over 5 % set aside, at least 100 records read: the run's
    # own counts say which.
    over = {
        f.file
        for f in summary.files
        if f.read >= 100 and Decimal(f.set_aside) / Decimal(f.read) > Decimal("0.05")
    }
    assert over
    assert {s for (check, s) in failed(result, "warning") if check == "set_aside_share"} == over
    assert any("quality warning: set_aside_share" in n for n in summary.notes)


def test_rates_a_hundred_times_too_high_hold_the_night(night: Night) -> None:
    usd = read_rates(night.landing)["USD"][0]
    edit_rate(night.landing, "USD", str(usd * 100))
    summary = night.run()
    assert summary.status == "held"
    assert "fx_band USD" in (summary.error or "")
    assert "not published" in (summary.error or "")
    [result] = night.results()
    assert result.verdict == "held"
    assert Decimal(failed(result)[("fx_band", "USD")]) == usd * 100


@pytest.mark.parametrize(
    ("rate", "check"),
    [("0.00", "fx_positive"), ("-712.35", "fx_positive"), (None, "fx_present")],
    ids=["zero", "negative", "missing"],
)
def test_a_zero_negative_or_missing_rate_holds_the_night(
    night: Night, rate: str | None, check: str
) -> None:
    edit_rate(night.landing, "EUR", rate)
    summary = night.run()
    assert summary.status == "held", summary.error
    [result] = night.results()
    assert (check, "EUR") in failed(result)


def test_a_stale_rate_holds_the_night(night: Night) -> None:
    gbp = read_rates(night.landing)["GBP"][0]
    edit_rate(night.landing, "GBP", str(gbp), "20190315")
    assert night.run().status == "held"
    [result] = night.results()
    assert failed(result)[("fx_dated", "GBP")] == "20190315"


def test_an_extra_cny_line_holds_the_night(night: Night) -> None:
    """The issue's case: `CNY|50.0000` appended halves every CNY balance if published."""
    path: Path = fx_path(night.landing)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"CNY|50.0000|{D}\n")
    reflag(path)
    assert night.run().status == "held"
    [result] = night.results()
    critical = failed(result)
    assert Decimal(critical[("fx_band", "CNY")]) == Decimal("50")
    # Only one line quotes CNY (the pipeline adds 100 itself otherwise): not a duplicate.
    assert ("fx_unique", "CNY") not in critical


def test_a_currency_quoted_twice_is_refused_before_the_gate(night: Night) -> None:
    """Ingest already rejects an FX file with a duplicate key (the gate's fx_unique is a
    second line of defence): the province fails, no gate result is recorded."""
    usd = read_rates(night.landing)["USD"][0]
    path = fx_path(night.landing)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"USD|{usd + 1}|{D}\n")
    reflag(path)
    summary = night.run()
    assert summary.status == "failed"
    assert "duplicate key: currency='USD'" in (summary.error or "")
    assert night.results() == []
