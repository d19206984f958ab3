"""What the sensors wait for: every file of a province with its `.ok` flag, the bank-wide FX
rate file, and (daily) the province's previous business date published.

A file is "missing" while its flag (or the province's own folder) is absent: the core
system has not finished sending it. A flag that disagrees with its file is "broken":
waiting will not mend it, so the sensor lets the load task fail with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from common import config, settings
from common.dates import business_date, business_day
from common.errors import FileRejected
from extract.flag import flag_path
from extract.landing import branches_to_read, check_landed, data_file_name
from load.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class LandingState:
    """What a sensor poke found for one province (or for the FX file)."""

    missing: list[str] = field(default_factory=list)  # not sent yet: keep waiting
    broken: list[str] = field(default_factory=list)  # sent but unusable: the load reports it
    branches: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.missing


def _landed(path: Path) -> bool:
    """Whether the data file and its flag are both there (the flag is written last)."""
    return flag_path(path).exists() and path.exists()


def province_landing(day: str, mode: str, province: str, landing: str = "") -> LandingState:
    """Whether every file of the province's branches has landed with its `.ok`."""
    known = config.provinces()
    folder = settings.landing_dir(landing) / business_date(day)
    state = LandingState()
    if settings.source_kind() == "sftp":
        # The SFTP fetcher lands the files and waits for their flags itself (until its
        # deadline); the local mirror is empty until then.
        log.info("%s: files come from SFTP; the load fetches them", province)
        return state
    if not (folder / province).is_dir():
        state.missing.append(f"{folder / province}/ (no folder yet)")
        return state
    state.branches = branches_to_read(folder, province, known)
    for branch in state.branches:
        for system, entities in known.entities[mode].items():  # type: ignore[index]
            for entity in entities:
                path = folder / branch / data_file_name(system, entity, branch, folder.name)
                if not _landed(path):
                    state.missing.append(path.name)
                    continue
                try:
                    check_landed(path, branch)
                except FileRejected as exc:
                    state.broken.append(str(exc))
    return state


def fx_landing(day: str, landing: str = "") -> LandingState:
    """Whether the bank-wide FX rate file of the date has landed with its flag."""
    day = business_date(day)
    path = settings.landing_dir(landing) / day / data_file_name("FXR", "RATE", "", day)
    state = LandingState()
    if not _landed(path):
        state.missing.append(path.name)
    return state


def previous_day_gap(day: str, province: str) -> str:
    """Why a daily load of `day` must wait for the province's previous date, or "".

    Nights are loaded in order per province: the daily mode applies D's changes to D-1's
    state, so D waits until D-1 is published (by a daily load, or by the initial load it
    follows). Checked per province, so a province late or failed on D-1 holds back only
    its own D; Airflow's depends_on_past would count every province's instance together.
    """
    before = business_day(day) - timedelta(days=1)
    warehouse = Warehouse(settings.warehouse_url())
    if any(
        warehouse.batch_status(before, province, m) == "published" for m in ("daily", "initial")
    ):
        return ""
    return f"{province} {before:%Y%m%d} is not published yet (nights load in order)"


def why_still_waiting(day: str, mode: str, province: str, landing: str = "") -> str:
    """What a province's sensor was still waiting for when it timed out ("" if nothing)."""
    state = province_landing(day, mode, province, landing)
    if state.missing:
        return "still missing after the sensor's timeout: " + ", ".join(state.missing[:10])
    if mode == "daily":
        return previous_day_gap(day, province)
    return ""
