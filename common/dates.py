"""Business dates and months as the DAGs and the command line accept them.

One parser for every entry point, so a date typed as `2026-11-24` in a DAG parameter and
`20261124` on the command line name the same night, and a wrong one is refused the same way.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from common.errors import PipelineError

_PATTERNS = ("%Y%m%d", "%Y-%m-%d")


def business_day(value: str, name: str = "business date") -> date:
    """The date of YYYYMMDD or YYYY-MM-DD; PipelineError naming `name` and the value otherwise."""
    for pattern in _PATTERNS:
        try:
            return datetime.strptime(value.strip(), pattern).date()
        except ValueError:
            continue
    raise PipelineError(f"{name} {value!r}: expected YYYYMMDD")


def business_date(value: str) -> str:
    """YYYYMMDD from YYYYMMDD or YYYY-MM-DD; PipelineError naming the value otherwise."""
    return business_day(value).strftime("%Y%m%d")


def previous_month(day: date) -> str:
    """YYYYMM of the month before `day`: the month a statement run on the 1st covers."""
    first = day.replace(day=1)
    last_month = date.fromordinal(first.toordinal() - 1)
    return last_month.strftime("%Y%m")


def statement_month(value: str) -> str:
    """A month as the statement takes it (YYYY-MM) from YYYYMM; PipelineError otherwise."""
    if not re.fullmatch(r"\d{6}", value):
        raise PipelineError(f"month {value!r}: expected YYYYMM")
    return f"{value[:4]}-{value[4:]}"
