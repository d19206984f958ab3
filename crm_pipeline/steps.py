"""The steps framework: a province's run as named steps, each a restart point.

A step body writes its outputs into the staging area and returns (outputs, counts, info);
`ProvinceSteps` records it in the run's restart ledger (common.jobs) and in the
warehouse's job repository (crm_run / crm_step, with its counts), skips it on a rerun when
its outputs are intact, and records the reason when it fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common.jobs import JobLedger
from common.staging import RunStaging
from crm_pipeline.crash import crash_point
from crm_pipeline.progress import step_event

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
        self, staging: RunStaging, force: bool, warehouse: Any, run_id: int, province: str = ""
    ) -> None:
        self.ledger = JobLedger(staging.jobs, force, staging.store)
        self.warehouse = warehouse
        self.run_id = run_id
        self.province = province  # names the progress events (crm_pipeline.progress)

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
        step_id = self.warehouse.start_step(self.run_id, name)
        manifest = self.ledger.done(name)
        if manifest is not None:
            self.warehouse.finish_step(step_id, {**manifest.get("counts", {}), "skipped": 1})
            log.info("step %s: outputs intact, not redone", name)
            step_event(self.province, name, "skipped")
            return step_id, manifest
        crash_point(f"before:{name}")
        self.ledger.start(name)
        step_event(self.province, name, "started")
        return step_id, None

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
        reason = f"{type(exc).__name__}: {exc}"
        self.ledger.fail(name, reason)
        self.warehouse.fail_step(step_id, reason)
        step_event(self.province, name, "failed")
