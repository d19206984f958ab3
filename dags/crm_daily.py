"""Airflow DAG `crm_daily`: the nightly incremental load, one run per business date, in order.

Each night at 01:00 (Asia/Shanghai) a run starts for the business date that just ended
(its logical date = its data interval's first day). `catchup=True` with
`max_active_runs=1` makes the scheduler create every missed date and run them one after
the other; each province's sensor also waits until that province's previous date is
published, so a province whose previous date failed or is late does not load the next
date (its sensor says which date it waits for): a late day blocks the next instead of
being skipped, while the other provinces go on. (Airflow's `depends_on_past` would do it
for all provinces at once: for a mapped task it counts every province's instance.)

Per province (the mapped `province` group): `wait_for_files` waits for the daily files'
`.ok` flags, deferred to the triggerer (no worker slot held), `fetch` lands them from SFTP
(SFTP source), then one task per step: `ingest`, `apply`, `publish` (the batch published)
and `transactions`, which emits an event on the asset `crm://warehouse/{province}` with
the business date and batch id. A failed step is its own red task; clearing it with its
downstream resumes the province there.

The provinces a night expects come from CRM_PROVINCES or the Airflow Variable
`crm_provinces` (comma-separated), else from the landing zone. Set it in production, so a
province that sent nothing waits visibly rather than being left out.
The first business date is CRM_DAILY_START (YYYYMMDD, read when the file is parsed).
"""

from __future__ import annotations

import os
from datetime import datetime

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag
from crm_common import TIMEZONE, fx_tasks, landing_param, plan, province_group, summary


def _start() -> datetime:
    """The first business date the schedule covers (go-live), from the environment."""
    text = os.environ.get("CRM_DAILY_START", "20261125")
    return pendulum.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), 1, tz=TIMEZONE)


@dag(
    dag_id="crm_daily",
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone=TIMEZONE),
    start_date=_start(),
    catchup=True,
    max_active_runs=1,
    tags=["crm"],
    params={
        "landing": landing_param(),
    },
    doc_md=__doc__,
)
def crm_daily() -> None:
    provinces = plan("daily")
    staged = fx_tasks("daily", poke_interval=300, timeout=8 * 60 * 60)
    groups = province_group(
        "daily", poke_interval=300, timeout=8 * 60 * 60, in_order=True, fx=staged
    ).expand(province=provinces)
    groups >> summary("daily", provinces)


crm_daily()
