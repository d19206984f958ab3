"""Which state a daily run starts from: the previous business date, and the order of days.

Days must be applied in order: a daily run of D starts from the state snapshot of P, the
newest date of the province published before D, and only when no day between P and D was
begun (a batch in the warehouse) or sent (a folder in the landing zone) without being
published, and no day after D is published yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from common import config as cfg
from common.errors import PipelineError
from crm_pipeline.state import yyyymmdd
from load.business_dates import attempted_dates, published_dates


def published_before(day: date, published: Sequence[date]) -> date:
    """The newest of the `published` dates (ascending) before `day` (pure).

    PipelineError when a date after `day` is already published (the days would be applied
    out of order) or when none is published before it (no state to start from).
    """
    later = [d for d in published if d > day]
    if later:
        raise PipelineError(
            f"business date {yyyymmdd(later[-1])} is already published; a daily "
            f"run for {yyyymmdd(day)} would apply the days out of order"
        )
    before = [d for d in published if d < day]
    if not before:
        raise PipelineError(
            f"no published business date before {yyyymmdd(day)}: "
            "run the initial load (and every daily run since) first"
        )
    return before[-1]


def check_no_gap(day: date, previous: date, pending: Iterable[date]) -> None:
    """PipelineError naming the first of the `pending` days (begun or sent between
    `previous` and `day`, not published): it must be run first (pure)."""
    gaps = sorted(set(pending))
    if gaps:
        raise PipelineError(
            f"business date {yyyymmdd(gaps[0])} is not published (the last "
            f"published one is {yyyymmdd(previous)}); days must be applied in order: "
            f"run {yyyymmdd(gaps[0])} first"
        )


def landed_days(landing: Path, province: str, after: date, before: date) -> list[date]:
    """Business dates strictly between the two with a folder of one of the province's
    branches in the landing zone: days that were sent, hence must be applied first."""
    # The landing zone's layout (`{landing}/{YYYYMMDD}/{branch}/`) belongs in
    # extract/landing.py; this scan can move there with the landing helpers.
    branches = set(cfg.provinces().branches_of(province))
    found = []
    if not landing.is_dir():
        return []
    for folder in landing.iterdir():
        if not (folder.is_dir() and len(folder.name) == 8 and folder.name.isdigit()):
            continue
        try:
            day = datetime.strptime(folder.name, "%Y%m%d").date()
        except ValueError:
            continue
        if after < day < before and any((folder / b).is_dir() for b in branches):
            found.append(day)
    return sorted(found)


def previous_business_date(engine: Any, landing: Path, province: str, day: date) -> date:
    """The date whose state snapshot a daily run of `day` starts from; PipelineError if
    the days in between are not all applied (a missing or unpublished earlier day)."""
    previous = published_before(day, published_dates(engine, province))
    check_no_gap(
        day,
        previous,
        [
            *attempted_dates(engine, province, previous, day),
            *landed_days(landing, province, previous, day),
        ],
    )
    return previous
