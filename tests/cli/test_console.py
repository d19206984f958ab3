"""The console a person reads (issue 19): warnings, errors and the summary by default, every
info line with -v, errors only with -q; the log file, named on screen, has every record; on
a terminal a live table shows each province's step, fed by the progress events."""

from __future__ import annotations

import io
import logging
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from crm_pipeline.cli import main
from crm_pipeline.cli.console import LiveProgress
from crm_pipeline.progress import province_event, step_event
from crm_pipeline.sample import write_sample

D = "20261124"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_LOG_FILE", str(tmp_path / "crm.log"))
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    out = tmp_path / "landing"
    write_sample(out, date(2026, 11, 24), ["ZJ"], 30, 2)
    return out


def _run(landing: Path, tmp_path: Path, *flags: str) -> int:
    return main([*flags, "run", "--date", D, "--landing", str(landing), "--force",
                 "--warehouse", f"sqlite:///{tmp_path / 'w.db'}",
                 "--staging", str(tmp_path / "st")])  # fmt: skip


@pytest.mark.parametrize(("flags", "levels"), [((), {"WARNING"}), (("-v",), {"INFO", "WARNING"}),
                                               (("-q",), set())])  # fmt: skip
def test_what_the_console_shows_at_each_verbosity(
    landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...], levels: set[str],
) -> None:  # fmt: skip
    assert _run(landing, tmp_path, *flags) == 0
    out = capsys.readouterr()
    shown = {line.split()[2] for line in out.err.splitlines() if line[:4].isdigit()}
    assert shown == levels, out.err
    assert "crm_pipeline.progress" not in out.err  # progress is for the display and the file
    assert out.out.splitlines()[-1] == f"details: {tmp_path / 'crm.log'}"
    assert "ZJ       published" in out.out
    logged = (tmp_path / "crm.log").read_text()
    assert " INFO crm_pipeline.progress: ZJ: step ingest done" in logged
    assert " DEBUG " in logged or " INFO " in logged


def test_the_live_table_follows_the_progress_events() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    live = LiveProgress(logging.WARNING, console)
    root = logging.getLogger()
    root.addHandler(live)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with live:
            province_event("ZJ", "started")
            step_event("ZJ", "ingest", "skipped")
            step_event("ZJ", "conform", "started")
            assert (live.rows["ZJ"].step, live.rows["ZJ"].steps_done) == (
                "conform",
                ["ingest (kept)"],
            )
            step_event("ZJ", "conform", "done")
            step_event("ZJ", "merge", "started")
            step_event("ZJ", "merge", "failed")
            province_event("ZJ", "failed")
            province_event("GD", "started")
            logging.getLogger("x").warning("a warning above the table")
            logging.getLogger("x").info("an info line: not shown")
    finally:
        root.removeHandler(live)
        root.setLevel(level)
    zj, gd = live.rows["ZJ"], live.rows["GD"]
    assert (zj.state, zj.step, zj.steps_done) == (
        "failed",
        "merge failed",
        ["ingest (kept)", "conform"],
    )
    assert zj.ended is not None and (gd.state, gd.ended) == ("started", None)
    text = screen.getvalue()
    assert "WARNING x: a warning above the table" in text and "an info line" not in text
    assert "merge failed" in text
