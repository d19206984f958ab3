"""Airflow DAG `crm_initial_load`: the one-time initial load of a business date.

Triggered by hand with the business date of the dumps. The grid shows one row per
province (the mapped `province` group, labelled with the province code):
`wait_for_files` waits for the `.ok` flags deferred to the triggerer (no worker slot
held), `fetch` lands the files from SFTP (SFTP source only), then one task per step,
`ingest`, `conform`, `merge`, `score`, each logging its counts, and `publish`, which logs
every file's reconciliation (read = kept + set aside + filtered), publishes the
province's batch and emits an event on the asset `crm://warehouse/{province}` with the
business date and batch id. A failed step is its own red task; clearing it with its
downstream resumes the province there. One province's failure does not stop the others; the `summary` task lists
each province's state in the warehouse and fails the run if one was not published.

Thin on purpose: every step is `crm_pipeline.run` through `crm_pipeline.tasks`,
imported by the tasks when they run, never at parse time.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag
from crm_common import fx_tasks, landing_param, plan, province_group, provinces_param, summary


@dag(
    dag_id="crm_initial_load",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["crm"],
    params={
        "business_date": Param(
            "20261124",
            type="string",
            pattern=r"^\d{8}$",
            description="business date of the dumps, YYYYMMDD",
        ),
        "provinces": provinces_param(
            "provinces to load (default: every province in the landing zone)"
        ),
        "landing": landing_param(),
        "force": Param(False, type="boolean", description="reload a province already published"),
    },
    doc_md=__doc__,
)
def crm_initial_load() -> None:
    provinces = plan("initial")
    staged = fx_tasks("initial", poke_interval=30, timeout=60 * 60)
    groups = province_group("initial", poke_interval=30, timeout=60 * 60, fx=staged).expand(
        province=provinces
    )
    groups >> summary("initial", provinces)


crm_initial_load()
