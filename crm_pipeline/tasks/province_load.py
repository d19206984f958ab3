"""A province's tasks after its wait: `fetch`, then one task per step (`STEP_TASKS`), each
with its counts in the task log; and the `summary` task's reading of what was published.

The task log is where an operator checks the counts: the step's own counts, and on the
publishing task one reconciliation line per file (read = kept + set aside + filtered)
and a province total.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from common import settings
from common.dates import business_date, business_day
from common.errors import PipelineError
from common.jobs import JobLedger
from common.staging import RunStaging
from crm_pipeline.context import ProvinceSummary
from crm_pipeline.fetch import fetch_province
from crm_pipeline.run import fx_rates, run_context, run_province
from crm_pipeline.step_names import is_first_task, step_of_task
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.quality import gate_province
from crm_pipeline.tasks.sqlite_lock import single_sqlite_writer
from load.warehouse import Warehouse

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def _log_counts(summary: ProvinceSummary) -> None:
    """Every file's reconciliation, then the province's total."""
    for f in summary.files:
        log.info(
            "%s: read %d = kept %d + set aside %d + filtered %d (flagged %d)%s",
            f.file,
            f.read,
            f.kept,
            f.set_aside,
            f.filtered,
            f.flagged,
            "" if f.balanced() else "  <-- does not balance",
        )
    if summary.files:
        log.info(
            "%s total: %d files, read %d, kept %d, set aside %d, filtered %d; "
            "%d source customers, %d merged, %d qualified",
            summary.province,
            len(summary.files),
            summary.total("read"),
            summary.total("kept"),
            summary.total("set_aside"),
            summary.total("filtered"),
            summary.source_customers,
            summary.merged_customers,
            summary.qualified,
        )


def _step_counts(run_staging: RunStaging, step: str) -> dict[str, Any]:
    """The counts the ledger recorded for `step` (done now or earlier), for the task log."""
    entry = JobLedger(run_staging.jobs, store=run_staging.store).entry(step) or {}
    return dict(entry.get("counts") or {})


def run_step(
    day: str,
    mode: str,
    province: str,
    task_id: str,
    landing: str = "",
    force: bool = False,
) -> dict[str, Any]:
    """The province's step task `task_id` (`STEP_TASKS`): its run up to and including the
    task's step, those already done skipped by the ledger; its counts (the task's XCom).

    Raises ProvinceFailed naming the step that failed (the one whose body raised, else
    the task's own: a file check before the first step fails the `ingest` task). `force`
    reloads a published date: the first task redoes its step afresh, which drops the
    later steps' ledger entries, so each later task redoes its own once.
    """
    step = step_of_task(mode, task_id)
    day = business_date(day)
    ctx = run_context(
        day,
        mode,
        settings.landing_dir(landing),
        force=force,
        stop_after=step,
        redo_steps=force and is_first_task(mode, task_id),
    )
    log.info("%s %s %s: %s (steps up to %s) from %s", province, day, mode, task_id, step,
             ctx.landing)  # fmt: skip
    with single_sqlite_writer(ctx.warehouse_url):
        summary = run_province(ctx, province, fx_rates(ctx))
    run_staging = ctx.run_staging(province)
    if summary.status == "held":  # the verdict and its Data Docs in the log, not retried
        gate_province(day, mode, province)
        raise ProvinceFailed(province, "quality_gate", summary.error or "held")
    if summary.status == "failed":
        raise ProvinceFailed(province, summary.failed_step or task_id, summary.error or "unknown")
    counts = _step_counts(run_staging, step)
    log.info("%s %s: %s: %s %s", province, day, step, summary.status,
             ", ".join(f"{k} {v}" for k, v in counts.items()) or "(no counts)")  # fmt: skip
    _log_counts(summary)
    if summary.status == "published":
        log.info("%s %s: batch %s; rejects under %s and in table crm_reject",
                 province, day, summary.batch_id, run_staging.parsed_dir)  # fmt: skip
    return {
        "province": province,
        "business_date": day,
        "mode": mode,
        "task": task_id,
        "step": step,
        "status": summary.status,
        "counts": counts,
        "batch_id": summary.batch_id,
        "qualified": summary.qualified,
        "merged_customers": summary.merged_customers,
        "source_customers": summary.source_customers,
        "read": summary.total("read"),
        "set_aside": summary.total("set_aside"),
    }


def fetch_files(
    day: str,
    mode: str,
    province: str,
    landing: str = "",
    force: bool = False,
    credentials: CredentialsProvider | None = None,
) -> dict[str, Any]:
    """The `fetch` task: the province's files from the SFTP server into the landing mirror
    (resumed where an earlier try stopped); nothing to do for a local landing folder or a
    date already published (unless forced). Raises ProvinceFailed("fetch", ...)."""
    day = business_date(day)
    folder = settings.landing_dir(landing)
    if settings.source_kind() != "sftp":
        log.info("%s %s: files are read from the landing folder %s: nothing to fetch",
                 province, day, folder)  # fmt: skip
        return {"province": province, "source": "folder", "fetched": 0}
    warehouse = Warehouse(settings.warehouse_url())
    try:
        if not force and warehouse.is_published(business_day(day), province, mode):
            log.info("%s %s: already published: nothing to fetch", province, day)
            return {"province": province, "source": "sftp", "fetched": 0}
    finally:
        warehouse.dispose()
    try:
        fetched = fetch_province(day, province, mode, folder, credentials)
    except PipelineError as exc:
        raise ProvinceFailed(province, "fetch", str(exc)) from exc
    log.info("%s %s: %d file(s) landed in %s", province, day, fetched, folder / day)
    return {"province": province, "source": "sftp", "fetched": fetched}


def publication_statuses(day: str, mode: str, provinces: Sequence[str]) -> dict[str, str]:
    """The warehouse's word on each province of the date: published, failed, or none."""
    warehouse = Warehouse(settings.warehouse_url())
    the_day = business_day(day)
    return {p: warehouse.batch_status(the_day, p, mode) or "not loaded" for p in provinces}
