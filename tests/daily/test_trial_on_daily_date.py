"""`formula trial` on a daily business date (issue 15's staging bug: it looked only for an
initial load's staged buckets and refused every date after go-live), its `--json` counts,
and a lowered threshold (issue 18), each against an independent recount.

The recount comes from the warehouse: the full dumps of the last daily date loaded as an
initial load, with thresholds so low that every customer qualifies, into a warehouse of
its own. That one holds every customer's score (the CRM's own warehouse holds only those
that ever qualified), computed by a load, not by the trial.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from common.paths import formulas_dir
from crm_pipeline.cli import main
from crm_pipeline.run import run_date
from tests.daily.conftest import World
from transform.scoring import load_formulas

LOW = "thresholds: {P: -1000000000000, C: -1000000000000}"


@pytest.fixture(scope="module")
def every_score(world: World) -> Iterator[dict[str, dict[str, dict[str, Decimal]]]]:
    """province -> cust_type -> cust_key -> score of every customer of the last date's full
    dumps, as an initial load with every threshold far below any score writes them."""
    assert world.full is not None
    low = world.root / "formulas-low"
    shutil.copytree(formulas_dir(), low, dirs_exist_ok=True)
    path = low / "reference.yaml"
    path.write_text(re.sub(r"thresholds: \{[^}]*\}", LOW, path.read_text()))
    url = f"sqlite:///{world.root / 'every-score.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_FORMULAS_DIR", str(low))
        summaries = run_date(
            world.day(5), "initial", world.full, warehouse_url=url,
            staging=world.root / "every_stg",
        )  # fmt: skip
    assert [s.status for s in summaries] == ["published", "published"]
    found: dict[str, dict[str, dict[str, Decimal]]] = {}
    rows = world.query(
        "SELECT province, cust_type, id_type, id_no, score, qualified FROM crm_customer", url
    )
    for province, cust_type, id_type, id_no, score, qualified in rows:
        assert qualified  # every customer, whatever its score
        by_key = found.setdefault(province, {}).setdefault(cust_type, {})
        by_key[f"{cust_type}|{id_type}|{id_no}"] = Decimal(str(score))
    yield found


def _candidate(tmp_path: Path, zj_p: int | None = None) -> Path:
    """The formulas in force, under another file name; ZJ's P threshold changed if given."""
    candidate = tmp_path / "candidate.yaml"
    text = (formulas_dir() / "reference.yaml").read_text()
    if zj_p is not None:
        new = f"  ZJ:\n    thresholds: {{P: {zj_p}, C: 5000000}}\n"
        text = text.replace("  ZJ: {}\n", new)
        assert new in text
    candidate.write_text(text)
    return candidate


def _trial_json(
    world: World, candidate: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, list[dict[str, object]], str]:
    capsys.readouterr()
    status = main(
        ["formula", "trial", str(candidate), "--date", world.day(5), "--staging",
         str(world.staging), "--warehouse", world.url, "--out", str(out), "--json", *extra]
    )  # fmt: skip
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if status == 0 else [], captured.err


def test_trial_on_a_daily_date_scores_the_whole_state(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The last daily date's state, merged and scored whole with the formulas in force,
    qualifies exactly the customers the five daily runs left qualified in the CRM."""
    status, rows, _ = _trial_json(
        world, _candidate(tmp_path), tmp_path / "r", capsys, "--province", "ZJ"
    )
    assert status == 0
    in_crm = dict(
        world.query(
            "SELECT cust_type, count(*) FROM crm_customer WHERE province = 'ZJ' AND qualified"
            " GROUP BY cust_type"
        )
    )
    assert sum(in_crm.values()) > 0
    assert {r["cust_type"]: r["qualified_candidate"] for r in rows} == in_crm
    assert {r["cust_type"]: r["qualified_now"] for r in rows} == in_crm
    assert all(r["enter"] == 0 and r["leave"] == 0 for r in rows)


def test_trial_on_a_daily_date_with_mode_initial_finds_nothing(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _trial_json(
        world, _candidate(tmp_path), tmp_path / "r", capsys, "--province", "ZJ", "--mode", "initial"
    )
    assert status == 1
    assert "neither an initial load's scoring input nor a state snapshot" in err


def test_json_counts_equal_a_recount_of_every_score(
    world: World,
    every_score: dict[str, dict[str, dict[str, Decimal]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every province and type: customers, qualified now and with the candidate, enter and
    leave, counted again from the warehouse's scores and the thresholds of the files."""
    candidate = _candidate(tmp_path, zj_p=400000)
    status, rows, _ = _trial_json(world, candidate, tmp_path / "r", capsys)
    assert status == 0
    day = world.d0 + timedelta(days=5)
    now, then = load_formulas(formulas_dir()), load_formulas(_dir_of(candidate, tmp_path))
    expected = []
    for province in sorted(every_score):
        for cust_type in sorted(every_score[province]):
            scores = list(every_score[province][cust_type].values())
            t_now = now.for_province(province, day).thresholds[cust_type]
            t_then = then.for_province(province, day).thresholds[cust_type]
            expected.append(
                {
                    "province": province,
                    "cust_type": cust_type,
                    "customers": len(scores),
                    "qualified_now": sum(1 for s in scores if s >= t_now),
                    "qualified_candidate": sum(1 for s in scores if s >= t_then),
                    "enter": sum(1 for s in scores if t_then <= s < t_now),
                    "leave": sum(1 for s in scores if t_now <= s < t_then),
                }
            )
    assert rows == expected
    assert {(r["province"], r["cust_type"]) for r in rows} == {
        ("ZJ", "P"), ("ZJ", "C"), ("GD", "P"), ("GD", "C")
    }  # fmt: skip


def _dir_of(candidate: Path, tmp_path: Path) -> Path:
    """The candidate alone in a folder, to read its thresholds with `load_formulas`."""
    folder = tmp_path / "candidate-dir"
    folder.mkdir(exist_ok=True)
    shutil.copy(candidate, folder / "reference.yaml")
    return folder


def test_a_lowered_threshold_lists_exactly_the_customers_between(
    world: World,
    every_score: dict[str, dict[str, dict[str, Decimal]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ZJ's P threshold 500,000 -> 400,000: the customers who enter are exactly those whose
    score in the warehouse is in [400,000, 500,000), with that score; nobody leaves."""
    candidate = _candidate(tmp_path, zj_p=400000)
    out = tmp_path / "report"
    status, rows, _ = _trial_json(
        world, candidate, out, capsys, "--province", "ZJ", "--limit", "100000"
    )
    assert status == 0
    low, high = Decimal(400000), Decimal(500000)
    between = {k: s for k, s in every_score["ZJ"]["P"].items() if low <= s < high}
    assert len(between) >= 3, "the sample has too few ZJ persons between the thresholds"
    with (out / "changes.csv").open(newline="") as handle:
        changes = list(csv.DictReader(handle))
    entered = {
        r["cust_key"]: Decimal(r["score_candidate"]) for r in changes if r["change"] == "enter"
    }
    assert entered == between
    assert all(Decimal(r["score_now"]) == Decimal(r["score_candidate"]) for r in changes)
    assert [r for r in changes if r["change"] == "leave"] == []
    html = (out / "report.html").read_text()
    assert f"customers who would enter the CRM ({len(between)})" in html
    for key in between:
        assert f"<td>{key}</td>" in html
    [zj_p] = [r for r in rows if r["cust_type"] == "P"]
    assert zj_p["enter"] == len(between) and zj_p["leave"] == 0
