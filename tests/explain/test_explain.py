"""`crm-pipeline explain` on the hand-made customers of the explain world."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from crm_pipeline.cli import main
from tests.daily.conftest import World
from tests.explain.conftest import EXACT_MERGED, ID_MERGED, SCORE_MERGED


def _explain(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["explain", "--province", "ZJ", "--warehouse", world.url,
                   "--staging", str(world.staging), *args])  # fmt: skip
    out, err = capsys.readouterr()
    return status, out, err


def _json(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    status, out, err = _explain(world, capsys, "--json", *args)
    assert status == 0, err
    return json.loads(out)


def test_smoke(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _explain(world, capsys, "--date", world.day(0), "--id-type", "01", "--id-no", ID_MERGED)
    print(out, err)
    data = _json(world, capsys, "--date", world.day(2), "--id-type", "01", "--id-no", ID_MERGED)
    print(json.dumps(data, indent=1, ensure_ascii=False))
    assert Fraction(data["score_exact"]) == sum(Fraction(t["value"]) for t in data["terms"])
    assert False
