"""`formula trial` on a daily business date (issue 15's staging bug: it looked only for an
initial load's staged buckets and refused every date after go-live)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common.paths import formulas_dir
from crm_pipeline.cli import main
from tests.daily.conftest import World


def _trial(
    world: World, index: int, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, dict[str, int]]]:
    candidate = tmp_path / "reference.yaml"  # the formulas in force, unchanged
    shutil.copy(formulas_dir() / "reference.yaml", candidate)
    registry = world.staging / "formula_registry.jsonl"
    before = registry.read_text().splitlines() if registry.exists() else []
    status = main(
        ["formula", "trial", str(candidate), "--date", world.day(index), "--province", "ZJ",
         "--staging", str(world.staging), "--out", str(tmp_path / "report"), *extra]
    )  # fmt: skip
    after = registry.read_text().splitlines() if registry.exists() else []
    new = [json.loads(line) for line in after[len(before) :]]
    return status, new[-1]["qualified"] if new else {}


def test_trial_on_a_daily_date_scores_the_whole_state(world: World, tmp_path: Path) -> None:
    """The last daily date's state, merged and scored whole with the formulas in force,
    qualifies exactly the customers the five daily runs left qualified in the CRM."""
    status, qualified = _trial(world, world.days, tmp_path)
    assert status == 0
    rows = world.query(
        "SELECT cust_type, count(*) FROM crm_customer WHERE province = 'ZJ' AND qualified"
        " GROUP BY cust_type"
    )
    in_crm = {cust_type: count for cust_type, count in rows}
    assert sum(in_crm.values()) > 0
    assert qualified == {"ZJ": in_crm}


def test_trial_on_a_daily_date_with_mode_initial_finds_nothing(
    world: World, tmp_path: Path
) -> None:
    status, qualified = _trial(world, 2, tmp_path, "--mode", "initial")
    assert status == 1 and qualified == {}
