"""Building blocks shared by the CRM DAGs (no DAG is defined here).

The province task group is the unit an operator looks at: `wait_for_files` (a deferrable
sensor: a province still waiting for its `.ok` flags holds no worker slot, the triggerer
waits for it), `fetch` (the SFTP source's files into the landing mirror), then one task
per step of the run (`crm_pipeline.step_names.STEP_TASKS`), so the grid shows which step
failed and clearing that task resumes there. The group is mapped over the run's
provinces, so the grid shows one row per province, labelled with its code, and a failed
province never holds back the others' publication.

Everything here only wires tasks; the decisions are in `crm_pipeline.tasks`, which the
tasks import when they run (nothing heavy at parse time). What is Airflow's own stays in
`dags/`: Variables and the secrets masker (`crm_settings`), the failure callback and its
notifications (`crm_alerts`), assets and retries (here).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from airflow.sdk import (
    AssetAlias,
    Param,
    PokeReturnValue,
    get_current_context,
    task,
    task_group,
)
from airflow.sdk.exceptions import AirflowFailException
from crm_alerts import on_failure
from crm_settings import PROVINCES_SETTING, mask_warehouse_password, setting
from crm_waiting import ProvinceFilesSensor

from common.dates import business_date
from crm_pipeline.step_names import STEP_TASKS

TIMEZONE = "Asia/Shanghai"
#: Each mapped province task sets `crm_province` in its context first thing, so the grid
#: labels it with the province code (op_kwargs of a task in a mapped group are not there).
LABEL = "{{ crm_province }}"
#: The asset alias every province task publishes through; the asset itself is per province.
PUBLICATION = AssetAlias("crm_warehouse_publication")

#: Transient failures (a locked database, a lost worker) are retried with exponential
#: backoff: 2, 4, 8 minutes... capped at 30; the run resumes from its restart ledger
#: (common/jobs.py): finished steps are not redone. CRM_RETRY_DELAY_SECONDS (read at parse
#: time) shortens the first delay where a lost worker must be retried at once (the
#: distributed tests and demo); production keeps the default.
RETRY_ARGS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=float(os.environ.get("CRM_RETRY_DELAY_SECONDS", "120"))),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}


def provinces_param(description: str) -> Param:
    """The `provinces` parameter of a DAG: province codes, empty for the DAG's default."""
    return Param(
        [],
        type="array",
        items={"type": "string", "pattern": "^[A-Z]{2}$"},
        description=description,
    )


def landing_param() -> Param:
    """The `landing` parameter of the load DAGs (the landing folder a run reads)."""
    return Param(
        "", type="string", description="landing folder (default: CRM_LANDING_DIR / config)"
    )


def asset_uri(province: str) -> str:
    """The warehouse asset of a province; downstream DAGs schedule on it."""
    return f"crm://warehouse/{province}"


def run_day(context: Any) -> str:
    """The business date of this run: the `business_date` param, else the logical date.

    A scheduled run's logical date is the start of its data interval, the business day it
    covers (in the bank's time zone); a manual run with a logical date D loads D. A rerun
    of an old run therefore always reloads its own date, never "today".
    """
    params = context.get("params") or {}
    if params.get("business_date"):
        return business_date(str(params["business_date"]))
    start = context.get("logical_date") or context.get("data_interval_start")
    if start is None:
        raise AirflowFailException("no business_date param and no data interval")
    import pendulum

    return str(pendulum.instance(start).in_timezone(TIMEZONE).strftime("%Y%m%d"))


def landing_of(context: Any) -> str:
    """The `landing` parameter of the run ("" for the configured landing folder)."""
    return str((context.get("params") or {}).get("landing") or "")


def _fail_on_data_problem(exc: Exception) -> AirflowFailException:
    """A data problem will not mend on retry: fail now, with the reason, no retries."""
    return AirflowFailException(str(exc))


@task(on_failure_callback=on_failure)
def plan(mode: str) -> list[str]:
    """Check the parameters, prepare the warehouse schema, list the provinces in order."""
    from common.errors import PipelineError
    from crm_pipeline.tasks.planning import plan_run

    mask_warehouse_password()
    context = get_current_context()
    params = context.get("params") or {}
    try:
        return plan_run(
            run_day(context),
            mode,
            params.get("provinces") or [],
            landing_of(context),
            expected=setting(PROVINCES_SETTING),
        )
    except PipelineError as exc:
        raise _fail_on_data_problem(exc) from exc


def fx_tasks(mode: str, poke_interval: float, timeout: float) -> Any:
    """Wait for the bank-wide FX rate file, then stage it once for every province."""

    @task.sensor(
        task_id="wait_for_fx_rates",
        mode="reschedule",
        poke_interval=poke_interval,
        timeout=timeout,
        on_failure_callback=on_failure,
    )
    def wait_for_fx_rates() -> PokeReturnValue:
        import logging

        from sftp_connection import credentials_from_connection

        from crm_pipeline.tasks.waiting import fx_landing

        context = get_current_context()
        state = fx_landing(run_day(context), landing_of(context), credentials_from_connection)
        if state.missing:
            logging.getLogger(__name__).info("waiting for %s", ", ".join(state.missing))
        return PokeReturnValue(is_done=state.ready)

    @task(task_id="stage_fx_rates", on_failure_callback=on_failure, **RETRY_ARGS)
    def stage_fx_rates() -> str:
        from sftp_connection import credentials_from_connection
        from staging_connection import export_staging_credentials

        from common.errors import PipelineError
        from crm_pipeline.tasks.fx import stage_fx

        export_staging_credentials()
        context = get_current_context()
        try:
            return stage_fx(run_day(context), landing_of(context), credentials_from_connection)
        except PipelineError as exc:
            raise _fail_on_data_problem(exc) from exc

    staged = stage_fx_rates()
    wait_for_fx_rates() >> staged
    return staged


def _fetch_task() -> Any:
    @task(task_id="fetch", map_index_template=LABEL, on_failure_callback=on_failure, **RETRY_ARGS)
    def fetch(province: str, mode: str) -> dict[str, Any]:
        """SFTP source: the province's files into the landing mirror (resumed); else nothing."""
        from sftp_connection import credentials_from_connection

        from common.errors import PipelineError
        from crm_pipeline.tasks.province_load import fetch_files

        context = get_current_context()
        context["crm_province"] = province  # type: ignore[typeddict-unknown-key]
        params = context.get("params") or {}
        try:
            return fetch_files(
                run_day(context),
                mode,
                province,
                landing_of(context),
                force=bool(params.get("force", False)),
                credentials=credentials_from_connection,
            )
        except PipelineError as exc:
            raise _fail_on_data_problem(exc) from exc

    return fetch


def _step_task(mode: str, task_id: str, publishes: bool) -> Any:
    """The task of one step (`STEP_TASKS`); `publishes`: the last one, which emits the
    province's asset event once its date is wholly published."""

    @task(
        task_id=task_id,
        map_index_template=LABEL,
        outlets=[PUBLICATION] if publishes else [],
        on_failure_callback=on_failure,
        **RETRY_ARGS,
    )
    def step(province: str) -> dict[str, Any]:
        from airflow.sdk import Asset
        from crm_worker import spawn_without_main
        from staging_connection import export_staging_credentials

        from common.errors import PipelineError
        from crm_pipeline.tasks.province_load import run_step

        mask_warehouse_password()
        export_staging_credentials()  # an s3:// staging store's Airflow connection
        context = get_current_context()
        context["crm_province"] = province  # type: ignore[typeddict-unknown-key]
        params = context.get("params") or {}
        try:
            with spawn_without_main():  # the step's worker processes (dags/crm_worker.py)
                result = run_step(
                    run_day(context),
                    mode,
                    province,
                    task_id,
                    landing_of(context),
                    force=bool(params.get("force", False)),
                )
        except PipelineError as exc:
            raise _fail_on_data_problem(exc) from exc
        if publishes and result["status"] == "published":
            context["outlet_events"][PUBLICATION].add(
                Asset(asset_uri(province)),
                extra={
                    "business_date": result["business_date"],
                    "batch_id": result["batch_id"],
                    "mode": mode,
                    "qualified": result["qualified"],
                },
            )
        return result

    return step


def _export_task() -> Any:
    @task(task_id="export", map_index_template=LABEL, on_failure_callback=on_failure, **RETRY_ARGS)
    def export(province: str, mode: str) -> dict[str, str]:
        """The published batch as files for the CRM data server (docs/export.md), pushed
        there when its Airflow connection is defined; else written, and the log says so."""
        import logging

        from sftp_connection import connection_defined, credentials_from_connection
        from staging_connection import export_staging_credentials

        from common import config
        from common.errors import PipelineError
        from crm_pipeline.tasks.export import export_province

        mask_warehouse_password()
        export_staging_credentials()
        context = get_current_context()
        context["crm_province"] = province  # type: ignore[typeddict-unknown-key]
        conn_id = config.settings().export.sftp.connection
        push = connection_defined(conn_id)
        if not push:
            logging.getLogger(__name__).warning(
                "%s: no Airflow connection %r: the export is written, not pushed", province, conn_id
            )
        try:
            return export_province(
                run_day(context), province, mode, push=push, provider=credentials_from_connection
            )
        except PipelineError as exc:
            raise _fail_on_data_problem(exc) from exc

    return export


def province_group(
    mode: str,
    *,
    poke_interval: float,
    timeout: float,
    in_order: bool = False,
    fx: Any = None,
) -> Any:
    """The per-province task group, ready to be expanded: `wait_for_files` (deferred, in
    the triggerer) -> `fetch` -> one task per step of `STEP_TASKS[mode]` (the last one
    publishes) -> `export`.

    A failed step is its own red task; clearing it (with its downstream) resumes the run
    there, the steps before it being skipped by the restart ledger. New steps come from
    `crm_pipeline.step_names.STEP_TASKS`; `export` (issue 19) follows the last step task:
    the published batch as files, pushed to the CRM data server.

    `in_order`: the sensor also waits until the province's previous business date is
    published, so a late day blocks the next for that province only. (Airflow's own
    `depends_on_past` is not used: for a mapped task it counts every map index of the
    previous run, so one province's failure would hold back every province the next night.)
    `fx` (the FX staging task) is made upstream of the first step only, so provinces start
    waiting for their own files while the FX file is still on its way.
    """
    tasks = STEP_TASKS[mode]

    @task_group(group_id="province")
    def province(province: str) -> None:
        wait = ProvinceFilesSensor(
            task_id="wait_for_files",
            province=province,
            mode=mode,
            in_order=in_order,
            poke_interval=poke_interval,
            timeout=timeout,
            map_index_template=LABEL,
            on_failure_callback=on_failure,
        )
        previous = wait >> _fetch_task()(province, mode)
        for i, (task_id, _) in enumerate(tasks):
            current = _step_task(mode, task_id, publishes=i == len(tasks) - 1)(province)
            previous >> current
            if i == 0 and fx is not None:
                fx >> current
            previous = current
        previous >> _export_task()(province, mode)

    return province


@task(trigger_rule="all_done")
def summary(mode: str, provinces: list[str]) -> dict[str, str]:
    """One line per province from the warehouse; fails the run if any is not published."""
    import logging

    from crm_pipeline.tasks.province_load import publication_statuses

    context = get_current_context()
    day = run_day(context)
    statuses = publication_statuses(day, mode, provinces)
    logger = logging.getLogger(__name__)
    for province, status in statuses.items():
        logger.info("%s %s %s: %s", day, mode, province, status)
    missing = [p for p, s in statuses.items() if s != "published"]
    if missing:
        raise AirflowFailException(
            f"{day} {mode}: not published: {', '.join(missing)} (see each province's task log)"
        )
    return statuses
