"""Landing warnings reach the operator's status (issue 16, item 8): unknown files and folders
in the landing zone and an optional city that sent nothing are kept with the run in the
warehouse (crm_run.warnings) and listed by `crm-pipeline status`, not only in the log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from crm_pipeline.cli import main
from crm_pipeline.sample import write_sample

D = "20261124"


def test_status_lists_the_landing_warnings_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_LOG_FILE", str(tmp_path / "crm.log"))
    monkeypatch.setenv("CRM_INGEST_WORKERS", "1")
    landing = tmp_path / "landing"
    write_sample(landing, date(2026, 11, 24), ["ZJ", "GD"], 30, 4)
    (landing / D / "ZJ" / "notes.txt").write_text("not a dump\n")
    (landing / D / "ZJ" / "old").mkdir()
    url = f"sqlite:///{tmp_path / 'w.db'}"
    status = main(["run", "--date", D, "--landing", str(landing), "--warehouse", url,
                   "--staging", str(tmp_path / "st")])  # fmt: skip
    assert status == 0, capsys.readouterr()
    capsys.readouterr()
    assert main(["status", "--date", D, "--province", "ZJ", "--warehouse", url]) == 0
    out = capsys.readouterr().out
    section = out.split("): warnings\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert sorted(line.strip() for line in section) == sorted([
        f"{landing / D / 'ZJ' / 'notes.txt'}: not a file of the initial layout set (not read)",
        f"{landing / D / 'ZJ' / 'old'}: not a file of the initial layout set (not read)",
        f"{landing / D / 'sample_manifest.json'}: not a file of the initial layout set (not read)",
        f"{landing / D / 'NB'}/: optional city NB sent nothing tonight",
        f"{landing / D / 'WZ'}/: optional city WZ sent nothing tonight",
    ])  # fmt: skip
    assert main(["status", "--date", D, "--province", "GD", "--warehouse", url]) == 0
    assert "notes.txt" not in capsys.readouterr().out
