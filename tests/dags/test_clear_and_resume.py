"""A failed step is its own red task; clearing it and its downstream resumes the run there.

The first `dag.test()` run fails GD's `score` (its bucket scoring raises, patched in); the
patch is removed, GD's `score` and its downstream (`quality_gate`, `publish`, `export`)
and the `summary` are cleared as an operator
clears them in the grid (Airflow's `clear_task_instances`), and the same run is resumed
with the loop `dag.test()` itself uses. GD's earlier tasks are not run again, and its
restart ledger makes `score` do score only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from common.errors import PipelineError
from tests.dags.conftest import BUSINESS_DATE, DAGS
from tests.test_crash_restart import step_rows

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow")]


def score_fails_for_gd(province: str, *args: Any) -> Any:
    """`score_bucket` for ZJ; a failure for GD (module level, as worker processes need)."""
    from crm_pipeline.buckets import score_bucket

    if province == "GD":
        raise PipelineError("formula reference: aggregate demand_cny: division by zero")
    return score_bucket(province, *args)


def _resume(dag: Any, run_id: str) -> Any:
    """Run what is schedulable in the run `run_id` until it finishes (dag.test's loop)."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.settings import Session
    from airflow.utils.state import DagRunState, TaskInstanceState

    session = Session()
    run = session.query(DagRun).filter_by(dag_id=dag.dag_id, run_id=run_id).one()
    run.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    while run.state == DagRunState.RUNNING:
        session.expire_all()
        schedulable, _ = run.update_state(session=session)
        for ti in schedulable:
            ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
        session.commit()
        for ti in run.get_task_instances(session=session):
            if ti.state == TaskInstanceState.SCHEDULED:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
    return run


def _tis(run: Any) -> dict[tuple[str, int], Any]:
    return {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}


def test_clearing_a_failed_step_resumes_the_run_there(
    airflow_db: str, crm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import clear_task_instances
    from airflow.settings import Session
    from airflow.utils.state import DagRunState

    import crm_pipeline.initial
    from load.warehouse import Warehouse

    dag = DagBag(dag_folder=str(DAGS)).dags["crm_initial_load"]
    with monkeypatch.context() as patch:
        patch.setattr(crm_pipeline.initial, "score_bucket", score_fails_for_gd)
        failed = dag.test(run_conf={"business_date": BUSINESS_DATE})
    assert failed.state == "failed"
    tis = _tis(failed)
    gd = 1  # provinces in configuration order: ZJ, GD
    assert tis[("province.merge", gd)].state == "success"
    assert tis[("province.score", gd)].state == "failed"
    assert tis[("province.publish", gd)].state == "upstream_failed"
    assert tis[("province.publish", 0)].state == "success"  # ZJ went on
    url = crm_env["CRM_WAREHOUSE_URL"]
    warehouse = Warehouse(url)
    assert warehouse.batch_status(date(2026, 11, 24), "GD", "initial") != "published"
    steps_before = len(step_rows(url, "state"))

    # The formula fixed, the operator clears GD's score with its downstream.
    session = Session()
    cleared = [
        ti
        for ti in failed.get_task_instances(session=session)
        if (ti.task_id, ti.map_index)
        in {
            ("province.score", gd),
            ("province.quality_gate", gd),
            ("province.publish", gd),
            ("province.export", gd),
            ("summary", -1),
        }
    ]
    clear_task_instances(cleared, session, dag_run_state=DagRunState.RUNNING)
    session.commit()
    resumed = _resume(dag, failed.run_id)

    assert resumed.state == "success"
    after = _tis(resumed)
    for task in ("wait_for_files", "fetch", "ingest", "conform", "merge"):
        ti = after[(f"province.{task}", gd)]
        assert (ti.state, ti.try_number) == ("success", 1), task  # not run again
    assert after[("province.score", gd)].state == "success"
    assert after[("province.score", gd)].try_number == 2
    assert after[("province.publish", gd)].state == "success"
    assert warehouse.batch_status(date(2026, 11, 24), "GD", "initial") == "published"
    # The resumed tasks did score, then state and load; nothing before score was redone.
    assert [n for n, _, _ in step_rows(url, "state")[steps_before:]] == [
        "score", "quality_gate", "state", "load",
    ]  # fmt: skip
