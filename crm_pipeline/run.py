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
from common.errors import PipelineError, one_line
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.daily import run_daily_province
from crm_pipeline.fetch import fetch_province
from crm_pipeline.ingest_step import stage_fx_rates
from crm_pipeline.initial import run_initial_province
from crm_pipeline.load_step import province_warehouse
from crm_pipeline.progress import province_event
from extract.landing import provinces_in_landing
from load.instance import published_batch_id
from load.lease import RunLease
from load.warehouse import Warehouse

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def run_province(ctx: RunContext, province: str, rates: Callable[[], pa.Table]) -> ProvinceSummary:
    """One province's whole load; never raises: a data problem or an unexpected error is a
    failed summary with a one-line reason (the traceback goes to the log)."""
    started = time.monotonic()
    summary = ProvinceSummary(province, "failed")
    province_event(province, "started")
    try:
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
    business_date = dates.business_date(business_date)
    if mode not in ("initial", "daily"):
        raise PipelineError(f"mode {mode!r}: expected initial or daily")
    source = settings.source_kind(source)
    ctx = RunContext(
        business_date=business_date,
        mode=mode,
        landing=landing,
        staging=settings.staging_url(staging),
        warehouse_url=settings.warehouse_url(warehouse_url),
        force=force,
    )
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
    ctx.area.store.check()
    warehouse = Warehouse(ctx.warehouse_url)
    warehouse.upgrade()  # the schema is the migrations' head, always
    fx_cache: list[pa.Table] = []

    def rates() -> pa.Table:
        if not fx_cache:
            fx_cache.append(stage_fx_rates(ctx.area, ctx.landing, business_date, ctx.force))
        return fx_cache[0]

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
