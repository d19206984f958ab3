"""Every DAG imports without errors, quickly, and without doing pipeline work at import."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
pytestmark = pytest.mark.airflow


def test_dags_import_without_errors_within_budget() -> None:
    from airflow.dag_processing.dagbag import DagBag

    for name in [m for m in sys.modules if m.split(".")[0] in ("transform", "load", "extract")]:
        del sys.modules[name]
    started = time.monotonic()
    bag = DagBag(dag_folder=str(DAGS))
    elapsed = time.monotonic() - started
    assert bag.import_errors == {}
    assert "crm_initial_load" in bag.dags
    assert elapsed < 10, f"parsing the DAGs took {elapsed:.1f}s"
    # No pipeline work at parse time: the heavy stage packages are imported only by tasks.
    heavy = [m for m in sys.modules if m.split(".")[0] in ("transform", "load", "extract")]
    assert heavy == []


def test_initial_load_maps_one_task_per_province() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["crm_initial_load"]
    assert set(dag.task_ids) == {"find_provinces", "load_province"}
    assert dag.params["business_date"] is not None
