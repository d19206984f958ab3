"""The `load_province` task: one province's load, its counts in the task log, and the
`summary` task's reading of what the warehouse published.

The task log is where an operator checks the counts: one reconciliation line per file
(read = kept + set aside + filtered) and a province total.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from common import settings
from common.dates import business_date, business_day
from common.jobs import JobLedger, JobState
from common.staging import RunStaging, StagingArea
from crm_pipeline.context import ProvinceSummary
from crm_pipeline.run import run_date
from crm_pipeline.tasks.failures import ProvinceFailed
from crm_pipeline.tasks.sqlite_lock import single_sqlite_writer
from load.warehouse import Warehouse

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def failed_step(summary: ProvinceSummary, staging: RunStaging) -> str:
    """The step a failed province stopped at: from its error, else the run's ledger (the
    step recorded failed, else one left started), whatever the mode's steps are."""
    error = summary.error or ""
    if error.startswith("no branch folder"):
        return "discover files"
    if error.startswith("not published"):
        return "verify files"
    if "reconciliation failed" in error:
        return "reconcile"
    if error.startswith("unknown province") or "configuration" in error:
        return "configuration"
    states = JobLedger(staging.jobs, store=staging.store).states()
    for wanted in (JobState.FAILED, JobState.STARTED):
        for step, state in states.items():
            if state == wanted:
                return step
    return "publish"


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


def load_one_province(
    day: str,
    mode: str,
    province: str,
    landing: str = "",
    force: bool = False,
    credentials: CredentialsProvider | None = None,
) -> dict[str, Any]:
    """Load one province; return its counts (the task's XCom), or raise ProvinceFailed
    naming step and reason. `credentials`: the SFTP login's provider (the DAG passes the
    Airflow connection's)."""
    day = business_date(day)
    url = settings.warehouse_url()
    staging = settings.staging_url()
    folder = settings.landing_dir(landing)
    log.info("%s %s %s: loading from %s", province, day, mode, folder)
    with single_sqlite_writer(url):
        [summary] = run_date(
            day, mode, folder, [province], url, staging, force=force, credentials=credentials
        )
    _log_counts(summary)
    run_staging = StagingArea.open(staging).run(day, province, mode)
    if summary.status == "failed":
        raise ProvinceFailed(
            province, failed_step(summary, run_staging), summary.error or "unknown"
        )
    log.info(
        "%s %s: %s (batch %s) in %.1fs; rejects under %s and in table crm_reject",
        province,
        day,
        summary.status,
        summary.batch_id,
        summary.seconds,
        run_staging.parsed_dir,
    )
    return {
        "province": province,
        "business_date": day,
        "mode": mode,
        "status": summary.status,
        "batch_id": summary.batch_id,
        "qualified": summary.qualified,
        "merged_customers": summary.merged_customers,
        "source_customers": summary.source_customers,
        "read": summary.total("read"),
        "set_aside": summary.total("set_aside"),
    }


def publication_statuses(day: str, mode: str, provinces: Sequence[str]) -> dict[str, str]:
    """The warehouse's word on each province of the date: published, failed, or none."""
    warehouse = Warehouse(settings.warehouse_url())
    the_day = business_day(day)
    return {p: warehouse.batch_status(the_day, p, mode) or "not loaded" for p in provinces}
