"""Which provinces a run covers: requested, expected by the setting, or found in the landing."""

from __future__ import annotations

import pytest

from common.errors import PipelineError
from crm_pipeline.tasks.planning import plan_run, statement_provinces
from tests.tasks.conftest import BUSINESS_DATE


def test_plan_orders_provinces_and_rejects_unknown_ones(crm_env: dict[str, str]) -> None:
    assert plan_run(BUSINESS_DATE, "initial") == ["ZJ", "GD"]
    assert plan_run(BUSINESS_DATE, "initial", ["GD", "ZJ"]) == ["ZJ", "GD"]
    with pytest.raises(PipelineError, match="XX"):
        plan_run(BUSINESS_DATE, "initial", ["XX"])


def test_expected_provinces_wait_even_without_files(crm_env: dict[str, str]) -> None:
    assert plan_run(BUSINESS_DATE, "daily", expected="GD,ZJ,BJ") == ["ZJ", "GD", "BJ"]
    # Requested provinces win over the expected ones.
    assert plan_run(BUSINESS_DATE, "daily", ["gd"], expected="GD,ZJ,BJ") == ["GD"]


def test_nothing_to_load_names_the_folder(crm_env: dict[str, str]) -> None:
    with pytest.raises(PipelineError, match="no province to load: nothing under .*20261201"):
        plan_run("2026-12-01", "initial")


def test_statement_provinces() -> None:
    assert statement_provinces(["gd", " zj "]) == ["ZJ", "GD"]
    assert statement_provinces(expected="GD") == ["GD"]
    assert set(statement_provinces()) >= {"ZJ", "GD"}
    with pytest.raises(PipelineError, match="XX, YY"):
        statement_provinces(["XX", "YY"])
