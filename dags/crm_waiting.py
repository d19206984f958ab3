"""`wait_for_files`: a deferrable sensor, and the trigger that waits for it in the triggerer.

The sensor looks once when it starts (a province whose flags are all there goes straight
on). Otherwise it defers: the task leaves its worker slot and the triggerer runs
`ProvinceFlagsTrigger`, which looks again every `poll_seconds` (the landing folder, or the
SFTP server for the SFTP source, and, for the daily load, the province's previous date
published) and fires once everything is there; the task then resumes on a worker just to
say so. A late night costs a coroutine in the triggerer, not a worker.

What a look sees is `crm_pipeline.tasks.waiting` (tested without Airflow); only the
operator and trigger classes are Airflow's, hence here. The triggerer imports the trigger
by its class path `crm_waiting.ProvinceFlagsTrigger`, so the DAG folder must be on its
Python path (PYTHONPATH; Airflow adds it for the workers and the DAG processor, not yet
for the triggerer: apache/airflow#65455).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from crm_pipeline.tasks.waiting import Look

log = logging.getLogger(__name__)


def _look(day: str, mode: str, province: str, landing: str, in_order: bool, sftp: bool) -> Look:
    """One look, with the Airflow connection's SFTP login when the source is SFTP."""
    from crm_pipeline.tasks.waiting import look_once

    credentials = None
    if sftp:
        from sftp_connection import credentials_from_connection

        credentials = credentials_from_connection
    return look_once(day, mode, province, landing, in_order, credentials)


class ProvinceFlagsTrigger(BaseTrigger):
    """Fires when the province's files all have their flags (and its previous date is in)."""

    def __init__(
        self,
        day: str,
        mode: str,
        province: str,
        landing: str = "",
        in_order: bool = False,
        poll_seconds: float = 300.0,
    ) -> None:
        super().__init__()
        self.day, self.mode, self.province = day, mode, province
        self.landing, self.in_order, self.poll_seconds = landing, in_order, poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "crm_waiting.ProvinceFlagsTrigger",
            {
                "day": self.day,
                "mode": self.mode,
                "province": self.province,
                "landing": self.landing,
                "in_order": self.in_order,
                "poll_seconds": self.poll_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from common import settings
        from crm_pipeline.tasks.waiting import until_ready

        sftp = settings.source_kind() == "sftp"
        # A look blocks (files, SFTP, the warehouse): in a thread, off the triggerer's loop;
        # sync_to_async lets an Airflow connection be read from there.
        look = sync_to_async(_look)
        found = await until_ready(
            lambda: look(self.day, self.mode, self.province, self.landing, self.in_order, sftp),
            self.poll_seconds,
            self.province,
        )
        yield TriggerEvent(
            {
                "province": self.province,
                "broken": list(found.broken),
                "branches": list(found.branches),
            }
        )


class ProvinceFilesSensor(BaseSensorOperator):
    """`wait_for_files` of a province: looks once, then defers to `ProvinceFlagsTrigger`.

    `timeout` (seconds) is how long the province may wait before the task fails, naming
    what is still missing (the failure callback asks `why_still_waiting`).
    """

    template_fields: Sequence[str] = ("province",)

    def __init__(
        self,
        *,
        province: Any,
        mode: str,
        in_order: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.province = province
        self.crm_mode = mode
        self.in_order = in_order

    def _where(self, context: Any) -> tuple[str, str]:
        from crm_common import landing_of, run_day

        context["crm_province"] = self.province  # the grid's label
        return run_day(context), landing_of(context)

    def poke(self, context: Any) -> bool:
        from common import settings

        day, landing = self._where(context)
        sftp = settings.source_kind() == "sftp"
        found = _look(day, self.crm_mode, self.province, landing, self.in_order, sftp)
        self._report(found.waiting_for, found.broken, found.branches)
        return found.ready

    def execute(self, context: Any) -> None:
        if self.poke(context):
            return
        day, landing = self._where(context)
        self.defer(
            trigger=ProvinceFlagsTrigger(
                day, self.crm_mode, self.province, landing, self.in_order, self.poke_interval
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        """Resumed by the trigger: every flag is there."""
        self._where(context)
        event = event or {}
        self._report("", event.get("broken", ()), event.get("branches", ()))

    def _report(self, waiting_for: str, broken: Sequence[str], branches: Sequence[str]) -> None:
        if waiting_for:
            log.info("%s: %s", self.province, waiting_for)
        else:
            log.info("%s: every file has its flag (%s)", self.province, ", ".join(branches))
        for problem in broken:
            log.warning("%s: %s", self.province, problem)
