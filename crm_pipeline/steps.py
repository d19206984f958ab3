"""The steps framework: a province's run as named steps, each a restart point.

A step body writes its outputs into the staging area and returns (outputs, counts, info);
`ProvinceSteps` records it in the run's restart ledger (common.jobs) and in the
warehouse's job repository (crm_run / crm_step, with its counts), skips it on a rerun when
its outputs are intact, and records the reason when it fails.

A run may stop after a named step (`RunContext.stop_after`): each Airflow task of a
province runs the run up to its own step, the ledger skipping those already done, so
task k does step k. Such a run records only the steps it does, not the ones it skips.
When a step is done afresh, the entries of the steps after it (in `RUN_STEPS`) are
dropped: they were built from its old outputs and must be redone too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common.jobs import JobLedger
from common.staging import RunStaging
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.crash import crash_point
from crm_pipeline.progress import step_event
from crm_pipeline.step_names import RUN_STEPS

log = logging.getLogger(__name__)

StepResult = tuple[list[Path], dict[str, int], dict[str, Any]]


StepBody = Callable[[int], StepResult]


def _in_background(body: StepBody, step_id: int) -> StepResult:
    """`body(step_id)` on this thread at a lower CPU priority (Linux: a thread's own nice
    value): a step run beside another must not slow the one the run waits for."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    return body(step_id)


class ProvinceSteps:
    """Runs a province's steps: skips those whose outputs are intact, records each in the
    warehouse's control tables (crm_run / crm_step) with its counts, fails them with the reason.
    """

    def __init__(
        self,
        staging: RunStaging,
        force: bool,
        warehouse: Any,
        run_id: int,
        *,
        order: Sequence[str] = (),
        stop_after: str | None = None,
        summary: ProvinceSummary | None = None,
        province: str = "",
    ) -> None:
        self.ledger = JobLedger(staging.jobs, force, staging.store)
        self.warehouse = warehouse
        self.run_id = run_id
        self.province = province  # names the progress events (crm_pipeline.progress)
        self.order = tuple(order)
        self.stop_after = stop_after
        self.summary = summary

    @classmethod
    def of_run(
        cls, ctx: RunContext, province: str, warehouse: Any, run_id: int, summary: ProvinceSummary
    ) -> ProvinceSteps:
        """The steps of `ctx`'s run of `province`: its mode's order, its stop point."""
        return cls(
            ctx.run_staging(province),
            ctx.ledger_force,
            warehouse,
            run_id,
            order=RUN_STEPS[ctx.mode],
            stop_after=ctx.stop_after,
            summary=summary,
            province=province,
        )

    def stop_here(self, name: str) -> bool:
        """Whether the run stops after step `name` (its stop point); the summary says so."""
        if name != self.stop_after:
            return False
        if self.summary is not None:
            self.summary.status, self.summary.stopped_after = "stopped", name
        log.info("stopping after step %s, as asked", name)
        return True

    def run(self, name: str, body: StepBody) -> dict[str, Any]:
        """`body(step_id)` returns (outputs, counts, info); its manifest is what a rerun reuses."""
        step_id, manifest = self._start(name)
        if manifest is not None:
            return manifest
        try:
            outputs, counts, info = body(step_id)
        except Exception as exc:
            self._fail(name, step_id, exc)
            raise
        return self._complete(name, step_id, outputs, counts, info)

    def run_beside(
        self,
        side: str,
        side_body: StepBody,
        name: str,
        body: Callable[[int, Callable[[], None]], StepResult],
    ) -> dict[str, Any]:
        """Step `name` here while step `side` runs in a thread; both skipped, recorded and
        failed as `run` does (the control tables are written from this thread only); the
        manifest of `name`.

        For steps that need different resources: the state snapshot (local files) is
        written while the warehouse load keeps PostgreSQL busy. `body(step_id, settle)`
        must call `settle()` where it needs `side` done and recorded (the load, before it
        publishes: a published batch always has its snapshot); it raises `side`'s error.
        When `name` fails, `side` is still waited for and recorded, and `name`'s error is
        the one raised.
        """
        side_id, side_manifest = self._start(side)
        if side_manifest is not None:
            return self.run(name, lambda step_id: body(step_id, lambda: None))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"step-{side}") as pool:
            pending = pool.submit(_in_background, side_body, side_id)
            settled = False

            def settle(raise_error: bool = True) -> None:
                nonlocal settled
                if not settled:
                    settled = True
                    self._settle(side, side_id, pending, raise_error)

            try:
                manifest = self.run(name, lambda step_id: body(step_id, settle))
            except BaseException:
                settle(raise_error=False)
                raise
            settle()
        return manifest

    def _start(self, name: str) -> tuple[int, dict[str, Any] | None]:
        manifest = self.ledger.done(name)
        if manifest is not None and self.stop_after is not None:
            log.info("step %s: done earlier, outputs intact", name)
            return 0, manifest  # a step task records only its own steps
        step_id = self.warehouse.start_step(self.run_id, name)
        if manifest is not None:
            self.warehouse.finish_step(step_id, {**manifest.get("counts", {}), "skipped": 1})
            log.info("step %s: outputs intact, not redone", name)
            step_event(self.province, name, "skipped")
            return step_id, manifest
        crash_point(f"before:{name}")
        self._forget_later(name)
        self.ledger.start(name)
        step_event(self.province, name, "started")
        return step_id, None

    def _forget_later(self, name: str) -> None:
        """Step `name` is done afresh: the steps after it were built from its old outputs."""
        if name not in self.order:
            return
        for later in self.order[self.order.index(name) + 1 :]:
            self.ledger.forget(later)

    def _settle(
        self, name: str, step_id: int, pending: Future[StepResult], raise_error: bool
    ) -> None:
        try:
            outputs, counts, info = pending.result()
        except Exception as exc:
            self._fail(name, step_id, exc)
            if raise_error:
                raise
            return
        self._complete(name, step_id, outputs, counts, info)

    def _complete(
        self,
        name: str,
        step_id: int,
        outputs: list[Path],
        counts: dict[str, int],
        info: dict[str, Any],
    ) -> dict[str, Any]:
        manifest = self.ledger.complete(name, outputs, counts=counts, **info)
        self.warehouse.finish_step(step_id, counts)
        step_event(self.province, name, "done")
        crash_point(f"after:{name}")
        return manifest

    def _fail(self, name: str, step_id: int, exc: Exception) -> None:
        if self.summary is not None and self.summary.failed_step is None:
            self.summary.failed_step = name
        reason = f"{type(exc).__name__}: {exc}"
        self.ledger.fail(name, reason)
        self.warehouse.fail_step(step_id, reason)
        step_event(self.province, name, "failed")
