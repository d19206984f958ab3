"""Control data: runs, steps, counts and checkpoints, and what a restart reads from them."""

from __future__ import annotations

from typing import Any

import pytest

from load import Warehouse
from tests.load.factory import DAY1, make_batch, people

pytestmark = pytest.mark.xdist_group("postgres")


def test_runs_steps_and_checkpoints(warehouse: Warehouse) -> None:
    run1 = warehouse.start_run(DAY1, "ZJ", "initial")
    ingest = warehouse.start_step(run1, "ingest")
    warehouse.checkpoint(ingest, 1, "RTL_ACCT:line=1000000", stream="RTL_ACCT")
    warehouse.checkpoint(ingest, 2, "RTL_ACCT:line=2000000", stream="RTL_ACCT")
    warehouse.fail_step(ingest, "Traceback ...\nOSError: disk full")
    warehouse.finish_run(run1, "failed")
    last = warehouse.last_checkpoint(DAY1, "ZJ", "initial", "ingest", "RTL_ACCT")
    assert last is not None and (last.chunk, last.position) == (2, "RTL_ACCT:line=2000000")
    assert warehouse.last_checkpoint(DAY1, "GD", "initial", "ingest", "RTL_ACCT") is None
    assert warehouse.completed_step(DAY1, "ZJ", "initial", "ingest") is None

    # The restart is a new run; it resumes after chunk 2 and completes the step.
    run2 = warehouse.start_run(DAY1, "ZJ", "initial")
    ingest2 = warehouse.start_step(run2, "ingest")
    again = warehouse.last_checkpoint(DAY1, "ZJ", "initial", "ingest", "RTL_ACCT")
    assert again == last
    warehouse.checkpoint(ingest2, 3, "RTL_ACCT:line=2500000", stream="RTL_ACCT")
    counts = {"read": 10, "kept": 7, "set_aside": 2, "filtered": 1, "written": 7, "flagged": 1}
    warehouse.finish_step(ingest2, counts)
    warehouse.finish_run(run2, "completed")
    done = warehouse.completed_step(DAY1, "ZJ", "initial", "ingest")
    assert done is not None and done.step_id == ingest2 and done.counts == counts
    # a completed step is skipped, not resumed
    assert warehouse.last_checkpoint(DAY1, "ZJ", "initial", "ingest", "RTL_ACCT") is None


def test_write_batch_records_its_chunks_under_the_step(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=4)
    run = warehouse.start_run(DAY1, "ZJ", "initial")
    step = warehouse.start_step(run, "load")
    result = warehouse.write_batch(make_batch(people(12)), run_id=run, step_id=step)
    warehouse.finish_step(step, {"written": result.accounts})
    last = warehouse.last_checkpoint(DAY1, "ZJ", "initial", "load", "stg_account")
    assert last is None  # the step completed
    assert warehouse.batch_status(DAY1, "ZJ", "initial") == "published"
