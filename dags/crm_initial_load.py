"""Airflow DAG: the one-time initial load, one mapped task per province.

Thin on purpose: every step is `crm_pipeline.runner`, which runs and is tested without
Airflow. Nothing heavy is imported at parse time; tasks import the pipeline when they run.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="crm_initial_load",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["crm"],
    params={
        "business_date": Param(
            "20261124",
            type="string",
            pattern=r"^\d{8}$",
            description="business date of the dumps, YYYYMMDD",
        ),
        "landing": Param("", type="string", description="landing folder (default: config)"),
    },
    doc_md=__doc__,
)
def crm_initial_load() -> None:
    @task
    def find_provinces() -> list[str]:
        from crm_pipeline import config
        from crm_pipeline.dag_support import landing_dir
        from extract.landing import provinces_in_landing

        params = get_current_context()["params"]
        found = provinces_in_landing(
            landing_dir(params["landing"]), params["business_date"], config.provinces()
        )
        if not found:
            raise RuntimeError(f"no province folder for {params['business_date']}")
        return found

    @task(map_index_template="{{ task.op_kwargs['province'] }}")
    def load_province(province: str) -> dict[str, object]:
        from crm_pipeline.dag_support import load_one_province

        params = get_current_context()["params"]
        return load_one_province(params["business_date"], "initial", province, params["landing"])

    load_province.expand(province=find_provinces())


crm_initial_load()
