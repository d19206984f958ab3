"""The load step: a province's batch staged in the warehouse in checkpointed chunks and
published in one transaction; and the warehouse's record of the run (crm_run)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from common.batch import ProvinceBatch
from common.errors import QualityHeld
from crm_pipeline.context import RunContext
from crm_pipeline.crash import crash_point
from crm_pipeline.steps import ProvinceSteps, StepBody, StepResult
from load.instance import instance_id
from load.warehouse import Warehouse


def province_warehouse(ctx: RunContext) -> Warehouse:
    """The warehouse a province's run writes to (CRM_LOAD_CHUNK_ROWS: rows per load chunk)."""

    chunk_rows = os.environ.get("CRM_LOAD_CHUNK_ROWS")
    return Warehouse(ctx.warehouse_url, chunk_rows=int(chunk_rows) if chunk_rows else None)


def record_run(
    warehouse: Any, ctx: RunContext, province: str, steps: Callable[[int], None]
) -> None:
    """Run a province's steps as one `crm_run`: completed, held (the quality gate kept
    its batch unpublished) or failed."""
    run_id = warehouse.start_run(ctx.day, province, ctx.mode)
    try:
        steps(run_id)
    except QualityHeld:
        warehouse.finish_run(run_id, "held")
        raise
    except BaseException:
        warehouse.finish_run(run_id, "failed")
        raise
    warehouse.finish_run(run_id, "completed")


def run_load_step(
    steps: ProvinceSteps,
    warehouse: Any,
    batch: ProvinceBatch,
    force: bool,
    run_id: int,
    beside: StepBody | None = None,
) -> int:
    """The "load" step: stage the batch in checkpointed chunks and publish it; its batch id.
    `beside`: the "state" step, run at the same time and completed before publication."""

    def load_step(step_id: int, before_publish: Callable[[], None] | None = None) -> StepResult:
        result = warehouse.write_batch(
            batch,
            force=force,
            run_id=run_id,
            step_id=step_id,
            on_chunk=lambda stream, chunk: crash_point(f"load:{stream}:{chunk}"),
            before_publish=before_publish,
        )
        counts = {
            "written": int(result.customers or 0) + int(result.accounts or 0),
            "chunks_written": result.chunks_written,
            "chunks_skipped": result.chunks_skipped,
        }
        return [], counts, {"batch_id": result.batch_id, "status": result.status}

    if beside is None:
        return int(steps.run("load", load_step)["batch_id"])
    return int(steps.run_beside("state", beside, "load", load_step)["batch_id"])


def warehouse_identity(warehouse: Warehouse) -> str:
    """What tells this warehouse from another one: its instance id, drawn when its schema
    was created (a new, empty database at the same URL is another warehouse)."""
    return instance_id(warehouse.engine)
