"""Control data: runs, steps, counts and the checkpoints a batch's staging records."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select

from load import Warehouse
from load.control import COMPLETED, FAILED, steps_of
from load.tables import crm_checkpoint, crm_run
from tests.load.factory import DAY1, make_batch, people


def test_runs_steps_and_counts(warehouse: Warehouse) -> None:
    run1 = warehouse.start_run(DAY1, "ZJ", "initial")
    ingest = warehouse.start_step(run1, "ingest")
    warehouse.fail_step(ingest, "Traceback ...\nOSError: disk full")
    warehouse.finish_run(run1, "failed")

    # The restart is a new run; it completes the step with its counts.
    run2 = warehouse.start_run(DAY1, "ZJ", "initial")
    assert run2 != run1
    ingest2 = warehouse.start_step(run2, "ingest")
    counts = {"read": 10, "kept": 7, "set_aside": 2, "filtered": 1, "written": 7, "flagged": 1}
    warehouse.finish_step(ingest2, counts)
    warehouse.finish_run(run2, "completed")

    with warehouse.engine.connect() as conn:
        (failed,) = steps_of(conn, run1)
        (done,) = steps_of(conn, run2)
        states = dict(conn.execute(select(crm_run.c.run_id, crm_run.c.state)).all())
    assert (failed.name, failed.state, failed.counts) == ("ingest", FAILED, {})
    assert failed.error == "Traceback ...\nOSError: disk full" and failed.ended_at is not None
    assert (done.step_id, done.state, done.counts, done.error) == (ingest2, COMPLETED, counts, None)
    assert states == {run1: "failed", run2: "completed"}


def test_write_batch_records_its_chunks_under_the_step(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=4)
    run = warehouse.start_run(DAY1, "ZJ", "initial")
    step = warehouse.start_step(run, "load")
    result = warehouse.write_batch(make_batch(people(12)), run_id=run, step_id=step)
    warehouse.finish_step(step, {"written": result.accounts})
    with warehouse.engine.connect() as conn:
        chunks = conn.execute(
            select(func.count())
            .select_from(crm_checkpoint)
            .where(crm_checkpoint.c.step_id == step, crm_checkpoint.c.stream == "stg_account")
        ).scalar_one()
        (load,) = steps_of(conn, run)
    assert result.accounts > 4 and chunks == math.ceil(result.accounts / 4)
    assert (load.state, load.counts) == (COMPLETED, {"written": result.accounts})
    assert warehouse.batch_status(DAY1, "ZJ", "initial") == "published"
