"""Trial runs on a known case (who enters, who leaves), the HTML report, the candidate
replacing its formula by `name:`, and the acceptance gate over the warehouse's formula
history (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.paths import PROJECT_ROOT
from crm_pipeline.cli import main
from crm_pipeline.formula_trial import candidate_paths, namesakes
from load import Warehouse, formula_history
from tests.transform.scoring.helpers import account, accounts_table, customers_table

D = Decimal
DAY = "20261124"

ENTERS, STAYS, LEAVES, NEVER = "P|01|ENTERS", "P|01|STAYS", "P|01|LEAVES", "P|01|NEVER"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The warehouse the formula history is recorded in: a SQLite file or a PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return str(request.getfixturevalue("pg_db_url"))


@pytest.fixture
def setup(tmp_path: Path, history_url: str) -> dict[str, Path | str]:
    """The reference formulas in force, ZJ staged for DAY, and a candidate file."""
    formulas = tmp_path / "formulas"
    shutil.copytree(PROJECT_ROOT / "scoring_formulas", formulas)
    staging = tmp_path / "staging"
    folder = staging / DAY / "ZJ" / "initial"  # the runner stages per mode
    folder.mkdir(parents=True)
    rows = [
        account(ENTERS, "RTL", "DEMAND", "CNY", "450000.00"),
        account(STAYS, "RTL", "DEMAND", "CNY", "300000.00"),
        account(STAYS, "FND", "FUND", "CNY", "120000.00"),
        account(LEAVES, "RTL", "DEMAND", "CNY", "200000.00"),
        account(LEAVES, "FND", "FUND", "CNY", "160000.00"),
        account(NEVER, "RTL", "DEMAND", "CNY", "100.00"),
    ]
    # staged in buckets, as the runner does: the trial reads every part
    for name in ("scoring_input", "merged"):
        (folder / name).mkdir()
    pq.write_table(accounts_table(rows[:3]), folder / "scoring_input" / "0000.parquet")
    pq.write_table(accounts_table(rows[3:]), folder / "scoring_input" / "0001.parquet")
    pq.write_table(customers_table([ENTERS, STAYS]), folder / "merged" / "0000.parquet")
    pq.write_table(customers_table([LEAVES, NEVER]), folder / "merged" / "0001.parquet")
    # a copy under another file name: it still carries `name: reference`
    candidate = tmp_path / "work" / "candidate.yaml"
    candidate.parent.mkdir()
    text = (formulas / "reference.yaml").read_text()
    text = text.replace(
        "  ZJ: {}\n",
        "  ZJ:\n    parameters: {fund_coef: 1}\n    thresholds: {P: 400000, C: 5000000}\n",
    )
    candidate.write_text(text)
    return {"formulas": formulas, "staging": staging, "candidate": candidate, "url": history_url}


def trial(setup: dict[str, Path | str], *extra: str) -> int:
    return main(
        ["formula", "trial", str(setup["candidate"]), "--date", DAY,
         "--staging", str(setup["staging"]), "--formulas", str(setup["formulas"]),
         "--warehouse", str(setup["url"]), *extra]
    )  # fmt: skip


def accept(setup: dict[str, Path | str]) -> int:
    return main(
        ["formula", "accept", str(setup["candidate"]), "--formulas", str(setup["formulas"]),
         "--warehouse", str(setup["url"])]
    )  # fmt: skip


def cells(html: str, table_id: str) -> list[list[str]]:
    """The text of every body cell of the table with id `table_id`, row by row."""
    match = re.search(rf'<table id="{re.escape(table_id)}">(.*?)</table>', html, re.S)
    assert match, table_id
    body = match.group(1).split("<tbody>")[1]
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_trial_enter_and_leave(
    setup: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert trial(setup) == 0
    out = capsys.readouterr().out
    # now: STAYS 540000, LEAVES 520000 qualify; candidate: ENTERS 450000, STAYS 420000.
    assert "ZJ P: qualified 2 -> 2 of 4 (enter 1, leave 1)" in out
    report = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    assert report.name == "report.html" and report.parent.name.startswith("reference-")
    html = report.read_text()
    assert cells(html, "enter-ZJ") == [[ENTERS, "P", "450,000.00", "450,000.00"]]
    assert cells(html, "leave-ZJ") == [[LEAVES, "P", "520,000.00", "360,000.00"]]
    assert STAYS not in html and NEVER not in html
    assert cells(html, "summary")[0][:7] == ["ZJ", "P", "4", "2", "2", "1", "1"]
    # bins of 80,000 from 0 to 800,000: LEAVES (360,000) in the 5th, ENTERS (450,000) the 6th
    bands = {row[0]: row[1:] for row in cells(html, "bands-ZJ-P")}
    assert bands["320,000.00 - 400,000.00"] == ["1", "0", "1"]
    assert bands["400,000.00 - 480,000.00"] == ["2", "1", "0"]  # ENTERS and STAYS (420,000)
    assert sum(int(v[0]) for v in bands.values()) == 4
    # the histogram is inline, with the candidate's threshold and the one in force
    assert '<line class="threshold"' in html and '<line class="threshold-now"' in html
    assert "threshold 400,000.00" in html and "in force 500,000.00" in html
    assert (
        "<img" not in html
        and "<script" not in html
        and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    )
    changes = (report.parent / "changes.csv").read_text()
    assert ENTERS in changes and LEAVES in changes
    # nearest-rank quantiles (0 25 50 75 90 99 100) of the candidate's exact scores
    # 100, 360000, 420000, 450000: rank = q x 3 rounded half to even
    assert cells(html, "quantiles-ZJ-P") == [
        ["100.00", "360,000.00", "420,000.00", "420,000.00", "450,000.00", "450,000.00",
         "450,000.00"]
    ]  # fmt: skip
    # nothing in force changed, and the candidate replaced reference.yaml (no duplicates)
    assert "fund_coef: 1}" not in (Path(setup["formulas"]) / "reference.yaml").read_text()


def test_trial_json_and_history(
    setup: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert trial(setup, "--json") == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert rows == [
        {"province": "ZJ", "cust_type": "P", "customers": 4, "qualified_now": 2,
         "qualified_candidate": 2, "enter": 1, "leave": 1},
    ]  # fmt: skip
    assert "report: " in captured.err
    warehouse = Warehouse(str(setup["url"]))
    try:
        [recorded] = formula_history.trials(warehouse.engine, name="reference")
    finally:
        warehouse.dispose()
    assert recorded.file == "candidate.yaml"
    assert recorded.content == Path(setup["candidate"]).read_text()
    assert recorded.business_date.isoformat() == "2026-11-24"
    [count] = recorded.counts
    assert (count.province, count.cust_type, count.customers, count.enter, count.leave) == (
        "ZJ", "P", 4, 1, 1,
    )  # fmt: skip
    assert count.formula_id_candidate != count.formula_id_now
    assert count.formula_id_candidate.startswith("reference-ZJ-P@")


def test_accept_needs_a_trial_of_the_same_content(
    setup: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = Path(setup["candidate"])
    formulas = Path(setup["formulas"])
    assert accept(setup) == 1
    assert "no trial on record" in capsys.readouterr().err
    assert trial(setup) == 0
    candidate.write_text(candidate.read_text() + "\n# edited after the trial\n")
    assert accept(setup) == 1
    assert "the trial is stale" in capsys.readouterr().err
    assert trial(setup) == 0
    assert accept(setup) == 0
    # candidate.yaml carries `name: reference`: it is written over reference.yaml
    assert sorted(p.name for p in formulas.glob("*.yaml")) == ["reference.yaml"]
    in_force = (formulas / "reference.yaml").read_text()
    assert in_force == candidate.read_text()
    assert main(["formula", "check", str(formulas)]) == 0
    warehouse = Warehouse(str(setup["url"]))
    try:
        engine = warehouse.engine
        tried = formula_history.trials(engine, name="reference")
        [accepted] = formula_history.acceptances(engine)
        zj_p = accepted.formula_ids["ZJ"]["P"]
        traced = formula_history.acceptance_of_formula(engine, zj_p)
    finally:
        warehouse.dispose()
    assert len(tried) == 2 and tried[0].content_sha256 != tried[1].content_sha256
    assert accepted.trial_id == tried[-1].trial_id  # the trial of exactly this content
    assert accepted.content == in_force and accepted.file == "reference.yaml"
    assert accepted.content_sha256 == tried[-1].content_sha256
    assert traced == accepted
    assert zj_p == tried[-1].counts[0].formula_id_candidate
    assert not (Path(setup["staging"]) / "formula_registry.jsonl").exists()


def test_trial_refuses_a_broken_candidate(
    setup: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = Path(setup["candidate"])
    candidate.write_text(
        candidate.read_text().replace("balance_cny / term_months", "balance_cny / overdue_periods")
    )
    assert trial(setup) == 1
    err = capsys.readouterr().err
    assert "division by overdue_periods" in err
    assert "duplicate definition" not in err


def test_a_candidate_replaces_by_name_not_file_name(tmp_path: Path) -> None:
    """Two files of one formula (different effective dates): the candidate replaces the one
    of its own effective date; a candidate with a new name joins the others."""
    formulas = tmp_path / "formulas"
    shutil.copytree(PROJECT_ROOT / "scoring_formulas", formulas)
    reference = (formulas / "reference.yaml").read_text()
    later = reference.replace("effective_date: 2020-01-01", "effective_date: 2027-01-01")
    assert later != reference
    (formulas / "reference-2027.yaml").write_text(later)
    candidate = tmp_path / "mine.yaml"
    candidate.write_text(later.replace("fund_coef: 2", "fund_coef: 3"))
    assert namesakes(candidate, formulas) == [formulas / "reference-2027.yaml"]
    assert sorted(p.name for p in candidate_paths(candidate, formulas)) == [
        "mine.yaml", "reference.yaml"
    ]  # fmt: skip
    other = tmp_path / "reference.yaml"  # the same file name, but another formula
    other.write_text(reference.replace("name: reference", "name: pilot"))
    assert namesakes(other, formulas) == []
    assert other in candidate_paths(other, formulas)
