"""A province's run split into step tasks (issue 19): task k does step k, the rest skipped.

Each `run_step` is what one Airflow task of the province group runs, here without Airflow.
The warehouse's step rows (crm_step, one crm_run per task) say which steps each task did;
the published tables are compared with a run of the whole province in one go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.errors import PipelineError
from crm_pipeline.run import run_context
from crm_pipeline.step_names import STEP_TASKS, stop_points
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.province_load import run_step
from load.warehouse import Warehouse
from tests.test_crash_restart import DATE, reference, snapshot, step_rows
from tests.test_crash_restart import landing as landing  # the module's sample (a fixture)

#: What each initial task does itself, given the tasks before it succeeded.
OWN_STEPS = {
    "ingest": ["ingest"],
    "conform": ["conform"],
    "merge": ["merge"],
    "score": ["score"],
    "quality_gate": ["quality_gate"],
    "publish": ["state", "load"],
}


@pytest.fixture
def env(landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("CRM_LANDING_DIR", str(landing))
    monkeypatch.setenv("CRM_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("CRM_WAREHOUSE_URL", url)
    monkeypatch.setenv("CRM_BUCKETS", "3")
    Warehouse(url).upgrade()  # the DAG's `plan` task does it before the province tasks
    return {"url": url, "landing": landing, "root": tmp_path}


def broken_score(*args: Any) -> Any:
    """A bucket's scoring failing (module level: the worker processes unpickle it by name)."""
    raise PipelineError("formula reference: aggregate demand_cny: division by zero")


def _steps_since(url: str, before: int) -> list[tuple[str, str]]:
    return [(name, state) for name, state, _ in step_rows(url, "state")[before:]]


def _run_tasks(url: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every initial task of ZJ in order, checking each did its own steps only."""
    results = []
    for task_id, _ in STEP_TASKS["initial"]:
        before = len(step_rows(url, "state"))
        results.append(run_step(DATE, "initial", "ZJ", task_id, **kwargs))
        assert _steps_since(url, before) == [(s, "completed") for s in OWN_STEPS[task_id]], task_id
    return results


def test_each_task_does_its_own_step_and_the_result_is_a_whole_run(env: dict[str, Any]) -> None:
    results = _run_tasks(env["url"])
    assert [r["status"] for r in results] == ["stopped"] * 5 + ["published"]
    steps = ["ingest", "conform", "merge", "score", "quality_gate", "load"]
    assert [r["step"] for r in results] == steps
    # Each task reports its own step's counts, and they add up to the province's totals:
    # what ingest read is kept by conform, set aside by either, or filtered by conform.
    ingest, conform, merge, score = (r["counts"] for r in results[:4])
    published = results[-1]
    assert (
        ingest["read"]
        == conform["kept"] + ingest["set_aside"] + conform["set_aside"] + (conform["filtered"])
    )
    assert (published["read"], published["set_aside"]) == (
        ingest["read"],
        ingest["set_aside"] + conform["set_aside"],
    )
    assert merge["written"] == score["written"] == published["merged_customers"]
    assert score["qualified"] == published["qualified"] > 0
    whole = reference(env["landing"], f"sqlite:///{env['root'] / 'whole.db'}", env["root"] / "w")
    assert snapshot(env["url"]) == whole
    assert whole["crm_customer"]  # the sample qualifies customers: the comparison says something


def test_a_published_date_is_not_redone_by_any_task(env: dict[str, Any]) -> None:
    _run_tasks(env["url"])
    before = len(step_rows(env["url"], "state"))
    for task_id, _ in STEP_TASKS["initial"]:
        assert run_step(DATE, "initial", "ZJ", task_id)["status"] == "already published"
    assert _steps_since(env["url"], before) == []


def test_a_forced_reload_in_tasks_redoes_every_step_once(env: dict[str, Any]) -> None:
    first = _run_tasks(env["url"])[-1]["batch_id"]
    # The first task redoes ingest afresh, which drops the later steps' ledger entries;
    # so each later task redoes its own step (checked in _run_tasks), none reused.
    again = _run_tasks(env["url"], force=True)[-1]
    assert again["status"] == "published" and again["batch_id"] != first


def test_a_failed_step_is_named_and_its_rerun_resumes_there(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import crm_pipeline.initial

    for task_id in ("ingest", "conform", "merge"):
        run_step(DATE, "initial", "ZJ", task_id)
    with monkeypatch.context() as patch:
        patch.setattr(crm_pipeline.initial, "score_bucket", broken_score)
        with pytest.raises(ProvinceFailed) as failure:
            run_step(DATE, "initial", "ZJ", "score")
    assert (failure.value.province, failure.value.step) == ("ZJ", "score")
    assert "division by zero" in failure.value.reason
    # Fixed, the task is run again (cleared): the steps before are not redone.
    before = len(step_rows(env["url"], "state"))
    assert run_step(DATE, "initial", "ZJ", "score")["status"] == "stopped"
    assert _steps_since(env["url"], before) == [("score", "completed")]
    assert run_step(DATE, "initial", "ZJ", "quality_gate")["status"] == "stopped"
    assert run_step(DATE, "initial", "ZJ", "publish")["status"] == "published"
    whole = reference(env["landing"], f"sqlite:///{env['root'] / 'whole.db'}", env["root"] / "w")
    assert snapshot(env["url"]) == whole


def test_a_failure_before_any_step_is_the_tasks_own(env: dict[str, Any]) -> None:
    flag = env["landing"] / DATE / "NB" / f"CRD_ACCT_NB_{DATE}.ok"
    text = flag.read_text()
    name, size, records, control = text.rstrip("\n").split("|")
    flag.write_text(f"{name}|{int(size) + 10}|{records}|{control}\n")  # 10 bytes missing
    try:
        with pytest.raises(ProvinceFailed) as failure:
            run_step(DATE, "initial", "ZJ", "ingest")
    finally:
        flag.write_text(text)
    assert failure.value.step == "ingest"
    assert f"CRD_ACCT_NB_{DATE}.dat" in failure.value.reason


def test_stop_points_are_the_tasks_last_steps(tmp_path: Path) -> None:
    assert stop_points("daily") == ("ingest", "apply", "quality_gate", "load", "transactions")
    with pytest.raises(PipelineError, match="'state' is not a stop point of the initial load"):
        run_context(DATE, "initial", tmp_path, stop_after="state")
    with pytest.raises(PipelineError, match="task 'export' is not a step task"):
        run_step(DATE, "initial", "ZJ", "export")
