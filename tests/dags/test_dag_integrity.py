"""Every DAG imports without errors, quickly, and without doing pipeline work at import."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.dags.conftest import DAGS

pytestmark = [pytest.mark.airflow, pytest.mark.xdist_group("airflow")]

EXPECTED = {"crm_initial_load", "crm_daily", "crm_monthly_statement", "crm_formula_trial"}
HEAVY = ("transform", "load", "extract", "pyarrow", "pandas", "paramiko")


def _bag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


# Parse the DAG folder in a fresh interpreter: what the parse imports is seen from a clean
# start, without purging this process's modules (which would leave other tests patching
# copies that the code under test no longer uses).
_PARSE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])  # as Airflow puts its dags folder on the path
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
started = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "seconds": time.monotonic() - started,
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "imported": sorted(set(sys.modules) - before),
}))
"""


def test_dags_import_without_errors_within_budget() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE, str(DAGS)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) >= EXPECTED
    assert parsed["seconds"] < 10, f"parsing the DAGs took {parsed['seconds']:.1f}s"
    # No pipeline work at parse time: the stages (and Arrow, pandas) load only in tasks.
    heavy = [
        m for m in parsed["imported"]
        if m == "crm_pipeline.run" or m.split(".")[0] in HEAVY
    ]  # fmt: skip
    assert heavy == []


def test_every_dag_is_tagged_and_documented() -> None:
    for dag_id, dag in _bag().dags.items():
        assert "crm" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id


STEPS = {
    "crm_initial_load": ["ingest", "conform", "merge", "score", "quality_gate", "publish"],
    "crm_daily": ["ingest", "apply", "quality_gate", "publish", "transactions"],
}


@pytest.mark.parametrize("dag_id", ["crm_initial_load", "crm_daily"])
def test_loads_map_one_group_of_step_tasks_per_province(dag_id: str) -> None:
    from crm_waiting import ProvinceFilesSensor

    dag = _bag().dags[dag_id]
    chain = ["wait_for_files", "fetch", *STEPS[dag_id], "export"]
    assert set(dag.task_ids) == {
        "plan",
        "wait_for_fx_rates",
        "stage_fx_rates",
        *(f"province.{t}" for t in chain),
        "summary",
    }
    # In the grid's order: each task's only province upstream is the one before it.
    for before, after in zip(chain, chain[1:], strict=False):
        upstream = dag.get_task(f"province.{after}").upstream_task_ids
        assert {u for u in upstream if u.startswith("province.")} == {f"province.{before}"}
    sensor = dag.get_task("province.wait_for_files")
    # Waiting defers to the triggerer (no worker slot); the grid labels each province.
    assert isinstance(sensor, ProvinceFilesSensor) or sensor.operator_class is ProvinceFilesSensor
    last = dag.get_task(f"province.{chain[-2]}")  # the last step task; then the export
    for name in chain[1:]:
        task = dag.get_task(f"province.{name}")
        assert task.map_index_template == sensor.map_index_template == "{{ crm_province }}"
        # Transient failures retry with exponential backoff; failures name province and step.
        assert task.retries >= 2 and task.retry_exponential_backoff > 1
        assert task.max_retry_delay <= timedelta(hours=1)
        assert task.on_failure_callback and sensor.on_failure_callback
        # Only the last task publishes through the alias (the per-province asset).
        outlets = [o.name for o in task.outlets]
        assert outlets == (["crm_warehouse_publication"] if task is last else []), name
    # One province's failure does not hold back the others: siblings are not upstream.
    assert sensor.upstream_task_ids == {"plan"}
    assert dag.get_task("province.ingest").upstream_task_ids == {
        "plan",
        "province.fetch",
        "stage_fx_rates",
    }
    assert dag.get_task("summary").upstream_task_ids == {"plan", "province.export"}


def test_initial_load_is_manual_with_a_business_date() -> None:
    dag = _bag().dags["crm_initial_load"]
    assert dag.timetable.can_be_scheduled is False
    assert dag.params["business_date"] == "20261124"
    assert {"business_date", "provinces", "landing", "force"} <= set(dag.params.keys())


def test_daily_runs_every_date_in_order_and_a_late_day_blocks_the_next() -> None:
    dag = _bag().dags["crm_daily"]
    assert dag.catchup is True
    assert dag.max_active_runs == 1
    # Order is kept per province by the sensor (previous date published), not by
    # depends_on_past, which for a mapped task would tie every province to the others.
    assert dag.get_task("province.publish").depends_on_past is False
    assert "previous" in (dag.doc_md or "")
    assert dag.timetable.can_be_scheduled


def test_business_date_is_the_logical_date_in_bank_time() -> None:
    import pendulum
    from crm_common import run_day

    start = pendulum.datetime(2026, 11, 24, 1, tz="Asia/Shanghai").in_timezone("UTC")
    assert run_day({"params": {}, "logical_date": start}) == "20261124"
    assert run_day({"params": {"business_date": "2026-11-20"}}) == "20261120"


def test_monthly_statement_and_formula_trial_shape() -> None:
    bag = _bag()
    monthly = bag.dags["crm_monthly_statement"]
    assert monthly.get_task("statement").map_index_template == "{{ crm_province }}"
    trial = bag.dags["crm_formula_trial"]
    assert trial.timetable.can_be_scheduled is False
    assert {"formula_file", "province", "business_date"} <= set(trial.params.keys())
    op = trial.get_task("formula_trial")
    assert [link.name for link in op.operator_extra_links] == ["Trial report"]
