"""What an operator does with a held night: look (`quality`, `status`), accept it (who,
when, why: the next run publishes), or have the file re-sent (a plain rerun publishes)."""

from __future__ import annotations

import pytest

from crm_pipeline.cli import main
from tests.quality.conftest import D, Night, edit_rate, fx_path, read_rates, reflag


def _hold_on_usd(night: Night) -> bytes:
    """Break USD (x100) and run: held. The original FX file's bytes."""
    original = fx_path(night.landing).read_bytes()
    edit_rate(night.landing, "USD", str(read_rates(night.landing)["USD"][0] * 100))
    assert night.run().status == "held"
    return original


def test_a_held_night_exits_non_zero_and_shows_in_status(
    night: Night, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_rate(night.landing, "USD", str(read_rates(night.landing)["USD"][0] * 100))
    args = ["--landing", str(night.landing), "--staging", str(night.staging)]
    code = main(["run", "--date", D, "--province", "ZJ", "--warehouse", night.url, *args])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "held" in out and "fx_band USD" in out
    assert main(["status", "--date", D, "--province", "ZJ", "--warehouse", night.url]) == 0
    status = capsys.readouterr().out
    [result] = night.results()
    assert "Quality gate" in status
    assert "ZJ 2026-11-24 initial: held" in status
    assert f"Data Docs: {result.docs}" in status
    # The run is recorded as held, its batch never staged for publication.
    assert any(" held " in line and "initial" in line for line in status.splitlines())
    assert main(["quality", "--date", D, "--province", "ZJ", "--warehouse", night.url]) == 0
    shown = capsys.readouterr().out
    assert "critical fx_band USD" in shown and result.docs and result.docs in shown


def test_an_accepted_night_publishes_on_the_next_run(
    night: Night, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hold_on_usd(night)
    monkeypatch.setenv("LOGNAME", "night-operator")
    monkeypatch.setenv("USER", "night-operator")
    reason = "treasury confirms the USD board rate"
    code = main(
        ["quality", "accept", "--date", D, "--province", "ZJ", "--reason", reason,
         "--warehouse", night.url]
    )  # fmt: skip
    assert code == 0, capsys.readouterr()
    summary = night.run()
    assert summary.status == "published", summary.error
    assert any("accepted by night-operator" in n for n in summary.notes)
    [result] = night.results()  # the gate's verdict was reused (its step intact)
    assert result.verdict == "accepted"
    assert result.acceptance is not None
    assert (result.acceptance.accepted_by, result.acceptance.reason) == ("night-operator", reason)


def test_accept_needs_a_held_night_and_a_reason(
    night: Night, capsys: pytest.CaptureFixture[str]
) -> None:
    assert night.run().status == "published"
    base = ["quality", "accept", "--date", D, "--province", "ZJ", "--warehouse", night.url]
    assert main([*base, "--reason", "why not"]) == 1
    assert "no held quality result to accept" in capsys.readouterr().err
    assert main([*base, "--reason", "  "]) == 1
    assert "--reason is required" in capsys.readouterr().err


def test_a_corrected_file_resent_then_a_plain_rerun_publishes(night: Night) -> None:
    original = _hold_on_usd(night)
    path = fx_path(night.landing)
    path.write_bytes(original)
    reflag(path)
    summary = night.run()
    assert summary.status == "published", summary.error
    held, passed = night.results()
    assert (held.verdict, passed.verdict) == ("held", "warned")
    assert not [f for f in passed.failures if f.severity == "critical"]
    assert passed.acceptance is None


@pytest.mark.postgres
def test_hold_accept_publish_on_postgresql(
    night: Night, pg_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same records on PostgreSQL: held, accepted, published; the next date compares
    with this one's stored metrics."""
    night.url = pg_db_url
    _hold_on_usd(night)
    monkeypatch.setenv("LOGNAME", "pg-operator")
    assert main(["quality", "accept", "--date", D, "--province", "ZJ", "--reason", "ok",
                 "--warehouse", night.url]) == 0  # fmt: skip
    assert night.run().status == "published"
    [result] = night.results()
    assert result.verdict == "accepted" and result.acceptance is not None
    assert result.acceptance.accepted_by == "pg-operator"
    assert result.metrics["rates"]  # stored as JSON, read back
