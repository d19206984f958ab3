"""Runs a business date's load, province by province: the entry point of the command line
and of the tasks the DAGs call. One province's failure never stops the others."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from common import config as cfg
from common import dates, settings
from common.errors import PipelineError, QualityHeld, one_line
from common.paths import config_dir
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.daily import run_daily_province
from crm_pipeline.fetch import fetch_province
from crm_pipeline.ingest_step import stage_fx_rates
from crm_pipeline.initial import run_initial_province
from crm_pipeline.load_step import province_warehouse
from crm_pipeline.progress import province_event
from crm_pipeline.quality.config import quality
from crm_pipeline.step_names import check_stop
from extract.landing import provinces_in_landing
from load.instance import published_batch_id
from load.lease import RunLease
from load.warehouse import Warehouse

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def run_province(ctx: RunContext, province: str, rates: Callable[[], pa.Table]) -> ProvinceSummary:
    """One province's load, whole or up to `ctx.stop_after` (then its status is "stopped");
    never raises: a data problem or an unexpected error is a failed summary with a one-line
    reason (the traceback goes to the log) and, when a step raised it, that step's name."""
    started = time.monotonic()
    summary = ProvinceSummary(province, "failed")
    province_event(province, "started")
    try:
        check_stop(ctx.mode, ctx.stop_after)
        warehouse = province_warehouse(ctx)
        try:
            with RunLease(warehouse.engine, province, ctx.day):  # one run of a night at a time
                if ctx.mode == "daily":
                    run_daily_province(ctx, province, rates, summary, warehouse)
                else:
                    run_initial_province(ctx, province, rates, summary, warehouse)
            confirm_published(warehouse, ctx, summary)
        finally:  # its pool (the lease's session included) closed, not left to the process
            warehouse.dispose()
    except QualityHeld as exc:  # not published, on purpose: the gate says why
        summary.status, summary.error = "held", str(exc)
        log.error("%s: %s", province, exc)
    except PipelineError as exc:
        summary.status, summary.error = "failed", str(exc)
        log.error("%s: %s", province, exc)
    except Exception as exc:  # containment: the province fails, the others go on
        summary.status, summary.error = "failed", f"unexpected error: {one_line(exc)}"
        log.error("%s: %s", province, summary.error, exc_info=True)
    summary.seconds = time.monotonic() - started
    province_event(province, summary.status)
    return summary


def confirm_published(warehouse: Warehouse, ctx: RunContext, summary: ProvinceSummary) -> None:
    """ "Published" is what the warehouse says: the batch the run reports must be the
    province's published batch of the date, else the run failed."""
    if summary.status not in ("published", "already published"):
        return
    published = published_batch_id(warehouse.engine, ctx.day, summary.province)
    if published is None or (summary.batch_id is not None and published != summary.batch_id):
        raise PipelineError(
            f"the warehouse shows no published batch {summary.batch_id or ''} of"
            f" {summary.province} {ctx.business_date}: not published"
        )
    summary.batch_id = published


def run_context(
    business_date: str,
    mode: str,
    landing: Path,
    warehouse_url: str | None = None,
    staging: str | Path | None = None,
    force: bool = False,
    stop_after: str | None = None,
    redo_steps: bool | None = None,
) -> RunContext:
    """A date's run context, its defaults from the settings; PipelineError on a bad mode,
    date or stop point."""
    if mode not in ("initial", "daily"):
        raise PipelineError(f"mode {mode!r}: expected initial or daily")
    check_stop(mode, stop_after)
    return RunContext(
        business_date=dates.business_date(business_date),
        mode=mode,
        landing=landing,
        staging=settings.staging_url(staging),
        warehouse_url=settings.warehouse_url(warehouse_url),
        force=force,
        stop_after=stop_after,
        redo_steps=redo_steps,
    )


def fx_rates(ctx: RunContext) -> Callable[[], pa.Table]:
    """The date's FX rates, staged at the first call and kept for the provinces after."""
    cache: list[pa.Table] = []

    def rates() -> pa.Table:
        if not cache:
            cache.append(stage_fx_rates(ctx.area, ctx.landing, ctx.business_date, ctx.force))
        return cache[0]

    return rates


def run_date(
    business_date: str,
    mode: str,
    landing: Path,
    provinces: Sequence[str] | None = None,
    warehouse_url: str | None = None,
    staging: str | Path | None = None,
    force: bool = False,
    source: str | None = None,
    credentials: CredentialsProvider | None = None,
) -> list[ProvinceSummary]:
    """Load every requested province (all found in the landing zone by default).

    With the SFTP source (`source="sftp"`, or `source.kind: sftp` in config/pipeline.yaml)
    each province's files are first fetched into `landing`; without named provinces every
    configured province is fetched, with the SFTP login `credentials` gives (default: the
    environment; the DAG tasks pass an Airflow connection's).
    """
    ctx = run_context(business_date, mode, landing, warehouse_url, staging, force)
    business_date = ctx.business_date
    source = settings.source_kind(source)
    if provinces:
        wanted = list(provinces)
    elif source == "sftp":
        wanted = list(cfg.provinces().provinces)
    else:
        wanted = provinces_in_landing(landing, business_date, cfg.provinces())
    unknown = [p for p in wanted if p not in cfg.provinces().provinces]
    if unknown:
        raise PipelineError(
            f"unknown province(s): {', '.join(unknown)} (see config/provinces.yaml)"
        )
    quality(config_dir())  # a bad config/quality.yaml stops the date before any work
    ctx.area.store.check()  # an unreachable or refused staging store stops it too
    warehouse = Warehouse(ctx.warehouse_url)
    warehouse.upgrade()  # the schema is the migrations' head, always
    rates = fx_rates(ctx)
    summaries = []
    for province in wanted:
        fetch = source == "sftp" and (force or not warehouse.is_published(ctx.day, province, mode))
        if fetch:
            try:
                fetch_province(business_date, province, mode, landing, credentials)
            except PipelineError as exc:
                summaries.append(ProvinceSummary(province, "failed", error=str(exc)))
                continue
        summaries.append(run_province(ctx, province, rates))
    return summaries
