"""Which provinces a run covers: a load's (the `plan` task) and a monthly statement's.

Order matters: provinces are always listed in `config/provinces.yaml` order, so a province
keeps its map index (its row in the grid, its address for clearing a task through the API)
from one night to the next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from common import config, settings
from common.dates import business_date
from common.errors import PipelineError
from extract.landing import provinces_in_landing
from load.urls import redacted
from load.warehouse import Warehouse

log = logging.getLogger(__name__)


def _codes(values: Sequence[str]) -> list[str]:
    """Province codes as typed by an operator: trimmed, upper case, blanks dropped."""
    return [p.strip().upper() for p in values if p.strip()]


def _known(wanted: list[str]) -> list[str]:
    """`wanted` in configuration order; PipelineError listing every unknown code at once."""
    known = config.provinces().provinces
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise PipelineError(f"unknown province(s) {', '.join(unknown)} (see config/provinces.yaml)")
    return [p for p in known if p in wanted]


def plan_run(
    day: str, mode: str, requested: Sequence[str] = (), landing: str = "", expected: str = ""
) -> list[str]:
    """The provinces of one run, in configuration order, after preparing the warehouse.

    Requested provinces win; otherwise a scheduled run expects the configured list
    (`expected`, comma-separated: the CRM_PROVINCES setting, which the DAG resolves from the
    environment or its Variable) so a province that sent nothing waits visibly; otherwise
    whatever is in the landing zone.
    """
    day = business_date(day)
    folder = settings.landing_dir(landing)
    wanted = _codes(requested) or _codes(expected.split(","))
    if not wanted:
        wanted = provinces_in_landing(folder, day, config.provinces())
    ordered = _known(wanted)
    if not ordered:
        raise PipelineError(f"no province to load: nothing under {folder / day}")
    warehouse = Warehouse(settings.warehouse_url())
    warehouse.upgrade()  # idempotent; done once here so parallel provinces never race on DDL
    log.info(
        "business date %s, %s load of %s; landing %s, staging %s, warehouse %s",
        day,
        mode,
        ", ".join(wanted),
        folder,
        settings.staging_url(),
        redacted(warehouse.url),
    )
    return ordered


def statement_provinces(requested: Sequence[str] = (), expected: str = "") -> list[str]:
    """Provinces of a monthly statement: requested, else `expected` (CRM_PROVINCES), else all."""
    wanted = _codes(requested) or _codes(expected.split(","))
    return _known(wanted) if wanted else list(config.provinces().provinces)
