"""What the sensors wait for: every file of a province with its `.ok` flag (in the landing
folder, or on the SFTP server for the SFTP source), the bank-wide FX rate file, and (daily)
the province's previous business date published.

A file is "missing" while its flag (or the province's own folder) is absent: the core
system has not finished sending it. A flag that disagrees with its file is "broken":
waiting will not mend it, so the sensor lets the next task fail with the reason.

`look_once` is one look, the sensor's first; `until_ready` repeats it between pauses,
which the deferred sensor's trigger does in Airflow's triggerer (no worker slot held).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from common import config, settings
from common.dates import business_date, business_day
from common.errors import FileRejected
from extract.flag import flag_path
from extract.landing import branches_to_read, check_landed, data_file_name
from load.warehouse import Warehouse

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

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


def province_landing(
    day: str,
    mode: str,
    province: str,
    landing: str = "",
    credentials: CredentialsProvider | None = None,
) -> LandingState:
    """Whether every file of the province's branches has its `.ok`: in the landing folder,
    or on the file-exchange server for the SFTP source (`credentials`: its login's
    provider; the environment's by default)."""
    known = config.provinces()
    folder = settings.landing_dir(landing) / business_date(day)
    state = LandingState()
    if settings.source_kind() == "sftp":
        from crm_pipeline.fetch import flags_on_server

        state.branches = list(known.branches_of(province))
        state.missing, state.broken = flags_on_server(
            business_date(day), province, mode, credentials
        )
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


def fx_landing(
    day: str, landing: str = "", credentials: CredentialsProvider | None = None
) -> LandingState:
    """Whether the bank-wide FX rate file of the date has landed with its flag (for the
    SFTP source: whether its flag is on the server)."""
    day = business_date(day)
    path = settings.landing_dir(landing) / day / data_file_name("FXR", "RATE", "", day)
    state = LandingState()
    if settings.source_kind() == "sftp":
        from crm_pipeline.fetch import fx_flag_on_server

        state.missing = fx_flag_on_server(day, credentials)
        return state
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


@dataclass(frozen=True)
class Look:
    """One look for a province: ready or not, what it still waits for, what is broken."""

    ready: bool
    waiting_for: str = ""
    broken: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()


def look_once(
    day: str,
    mode: str,
    province: str,
    landing: str = "",
    in_order: bool = False,
    credentials: CredentialsProvider | None = None,
) -> Look:
    """The province's previous date published (`in_order`, daily), then its flags."""
    if in_order and (gap := previous_day_gap(day, province)):
        return Look(False, gap)
    state = province_landing(day, mode, province, landing, credentials)
    shown = ", ".join(state.missing[:8])
    more = f" and {len(state.missing) - 8} more" if len(state.missing) > 8 else ""
    return Look(
        state.ready,
        f"waiting for {shown}{more}" if state.missing else "",
        tuple(state.broken),
        tuple(state.branches),
    )


async def until_ready(
    look: Callable[[], Awaitable[Look]], poll_seconds: float, province: str = ""
) -> Look:
    """Look again every `poll_seconds` until the province is ready; that look.

    `look` is awaited so the caller decides how a blocking look runs off the event loop
    (the Airflow trigger hands it to a thread). No deadline here: the deferral's timeout
    is Airflow's, and a trigger cancelled then stops at its next pause.
    """
    while True:
        found = await look()
        if found.ready:
            return found
        log.info("%s: %s; next look in %.0f s", province, found.waiting_for, poll_seconds)
        await asyncio.sleep(poll_seconds)
