"""Business dates and months as the DAGs and the command line accept them."""

from __future__ import annotations

from datetime import date

import pytest

from common.dates import business_date, business_day, previous_month, statement_month
from common.errors import PipelineError


def test_business_date_both_spellings_and_a_clear_error() -> None:
    assert business_date("20261124") == business_date("2026-11-24") == "20261124"
    assert business_day(" 20261124 ") == date(2026, 11, 24)
    with pytest.raises(PipelineError, match="--date '24/11/2026': expected YYYYMMDD"):
        business_day("24/11/2026", "--date")


def test_previous_month() -> None:
    assert previous_month(date(2027, 1, 1)) == "202612"
    assert previous_month(date(2026, 3, 31)) == "202602"


def test_statement_month() -> None:
    assert statement_month("202611") == "2026-11"
    with pytest.raises(PipelineError, match="month '2026-11': expected YYYYMM"):
        statement_month("2026-11")
