"""Airflow DAG `crm_monthly_statement`: each province's statement for the month just ended.

Runs at 06:00 (Asia/Shanghai) on the 1st of each month, after the last daily load of the
month had the night to finish; it can also be triggered by hand with a `month` (YYYYMM).
One mapped task per province (labelled with its code), so one province's failure is
visible on its own and does not stop the others. The work is
`crm_pipeline.statement.produce_statements` (through `crm_pipeline.tasks.monthly_statement`),
imported when the task runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from crm_alerts import on_failure
from crm_common import LABEL, RETRY_ARGS, TIMEZONE, provinces_param
from crm_settings import PROVINCES_SETTING, mask_warehouse_password, setting

from common.dates import previous_month


def _month(context: Any) -> str:
    """The `month` param, else the month before the run's logical date (bank time zone)."""
    import pendulum

    month = str((context.get("params") or {}).get("month") or "")
    if month:
        return month
    when = context.get("logical_date") or context.get("data_interval_end")
    if when is None:
        raise AirflowFailException("no month param and no logical date")
    return previous_month(pendulum.instance(when).in_timezone(TIMEZONE).date())


@dag(
    dag_id="crm_monthly_statement",
    schedule=CronTriggerTimetable("0 6 1 * *", timezone=TIMEZONE),
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,
    tags=["crm"],
    params={
        "month": Param(
            "",
            type="string",
            pattern=r"^(\d{6})?$",
            description="month YYYYMM (default: the month before the run)",
        ),
        "provinces": provinces_param(
            "provinces (default: CRM_PROVINCES / Variable crm_provinces / all)"
        ),
    },
    doc_md=__doc__,
)
def crm_monthly_statement() -> None:
    @task
    def statement_provinces() -> list[str]:
        from crm_pipeline.tasks.planning import statement_provinces as provinces_of

        params = get_current_context().get("params") or {}
        return provinces_of(params.get("provinces") or [], expected=setting(PROVINCES_SETTING))

    @task(map_index_template=LABEL, on_failure_callback=on_failure, **RETRY_ARGS)
    def statement(province: str) -> Any:
        from common.errors import PipelineError
        from crm_pipeline.tasks.monthly_statement import run_month_statement

        mask_warehouse_password()
        context = get_current_context()
        context["crm_province"] = province  # type: ignore[typeddict-unknown-key]
        try:
            return run_month_statement(_month(context), province)
        except PipelineError as exc:
            raise AirflowFailException(str(exc)) from exc

    statement.expand(province=statement_provinces())


crm_monthly_statement()
