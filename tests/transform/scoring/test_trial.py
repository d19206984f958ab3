"""Trial runs on a known case (who enters, who leaves) and the acceptance gate."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.paths import PROJECT_ROOT
from crm_pipeline.cli import main
from tests.transform.scoring.helpers import account, accounts_table, customers_table
from transform.scoring.registry import FormulaRegistry

D = Decimal
DAY = "20261124"

ENTERS, STAYS, LEAVES, NEVER = "P|01|ENTERS", "P|01|STAYS", "P|01|LEAVES", "P|01|NEVER"


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
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
    candidate = tmp_path / "work" / "reference.yaml"
    candidate.parent.mkdir()
    text = (formulas / "reference.yaml").read_text()
    text = text.replace(
        "  ZJ: {}\n",
        "  ZJ:\n    parameters: {fund_coef: 1}\n    thresholds: {P: 400000, C: 5000000}\n",
    )
    candidate.write_text(text)
    return {"formulas": formulas, "staging": staging, "candidate": candidate}


def trial(setup: dict[str, Path]) -> int:
    return main(
        [
            "formula",
            "trial",
            str(setup["candidate"]),
            "--date",
            DAY,
            "--staging",
            str(setup["staging"]),
            "--formulas",
            str(setup["formulas"]),
        ]
    )


def accept(setup: dict[str, Path]) -> int:
    return main(
        [
            "formula",
            "accept",
            str(setup["candidate"]),
            "--staging",
            str(setup["staging"]),
            "--formulas",
            str(setup["formulas"]),
        ]
    )


def test_trial_enter_and_leave(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert trial(setup) == 0
    out = capsys.readouterr().out
    # now: STAYS 540000, LEAVES 520000 qualify; candidate: ENTERS 450000, STAYS 420000.
    assert "ZJ P: qualified 2 -> 2 (enter 1, leave 1)" in out
    report = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    text = report.read_text()
    cell = {key: key.replace("|", "\\|") for key in (ENTERS, STAYS, LEAVES, NEVER)}
    assert f"| {cell[ENTERS]} | P | 450,000.00 | 450,000.00 |" in text
    assert f"| {cell[LEAVES]} | P | 520,000.00 | 360,000.00 |" in text
    assert cell[STAYS] not in text and cell[NEVER] not in text
    assert "customers who would enter the CRM (1)" in text
    assert "threshold 400,000.00" in text  # the text histogram marks it
    assert (report.parent / "histogram-ZJ-P.svg").read_text().startswith("<svg")
    changes = (report.parent / "changes.csv").read_text()
    assert ENTERS in changes and LEAVES in changes
    # nearest-rank quantiles (0 25 50 75 90 99 100) of the candidate's exact scores
    # 100, 360000, 420000, 450000: rank = q x 3 rounded half to even
    assert (
        "| 100.00 | 360,000.00 | 420,000.00 | 420,000.00 | 450,000.00 | 450,000.00 | 450,000.00 |"
        in text
    )
    # nothing in force changed
    assert "fund_coef: 1}" not in (setup["formulas"] / "reference.yaml").read_text()


def test_accept_needs_a_trial_of_the_same_content(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert accept(setup) == 1
    assert "no trial on record" in capsys.readouterr().err
    assert trial(setup) == 0
    setup["candidate"].write_text(setup["candidate"].read_text() + "\n# edited after the trial\n")
    assert accept(setup) == 1
    assert "the trial is stale" in capsys.readouterr().err
    assert trial(setup) == 0
    assert accept(setup) == 0
    in_force = (setup["formulas"] / "reference.yaml").read_text()
    assert in_force == setup["candidate"].read_text()
    registry = FormulaRegistry(setup["staging"] / "formula_registry.jsonl")
    [accepted] = registry.history()
    assert accepted["content"] == in_force
    zj_p = accepted["formula_ids"]["ZJ"]["P"]
    assert registry.find_formula(zj_p) == accepted
    lines = (setup["staging"] / "formula_registry.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["trial", "trial", "accepted"]


def test_trial_refuses_a_broken_candidate(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    setup["candidate"].write_text(
        setup["candidate"]
        .read_text()
        .replace("balance_cny / term_months", "balance_cny / overdue_periods")
    )
    assert trial(setup) == 1
    assert "division by overdue_periods" in capsys.readouterr().err
