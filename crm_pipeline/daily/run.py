"""A province's daily run as steps: ingest, apply, quality_gate, load, transactions.

The steps are those of the initial load's framework (`crm_pipeline.steps.ProvinceSteps`):
recorded in the warehouse's control tables, skipped on a rerun when their outputs are
intact; `load` and `transactions` resume after their last committed chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.batch import FileCounts, ProvinceBatch
from common.intermediate import read_table, write_table
from common.paths import formulas_dir
from common.schema import conform
from common.staging import BATCH_TABLES
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.daily.business_dates import previous_business_date
from crm_pipeline.daily.day import compute_day
from crm_pipeline.daily.transactions import load_transactions
from crm_pipeline.history import check_force_over_history
from crm_pipeline.ingest_step import data_files, ingest_files, landed_files, staged_files
from crm_pipeline.load_step import (
    record_run,
    run_load_step,
    warehouse_identity,
)
from crm_pipeline.quality.gate import GateInputs, preload_validation, quality_gate
from crm_pipeline.run_identity import adopt_run, context_identity, refuse_other_inputs
from crm_pipeline.state import (
    STATE_ACCOUNT,
    layer_stats,
    state_accounts_file,
    write_layer,
    write_state,
    yyyymmdd,
)
from crm_pipeline.steps import ProvinceSteps, StepResult
from load.business_dates import txn_loaded
from load.instance import published_batch_id
from load.quality import Night
from load.warehouse import Warehouse
from transform.scoring import load_formulas

_RECONCILED = ("read", "kept", "set_aside", "filtered")


def file_totals(files: Sequence[FileCounts]) -> dict[str, int]:
    """The step's counts of its files: read, kept, set aside and filtered, summed."""
    return {name: sum(int(getattr(f, name)) for f in files) for name in _RECONCILED}


def run_daily_province(
    ctx: RunContext,
    province: str,
    rates: Callable[[], pa.Table],
    summary: ProvinceSummary,
    warehouse: Warehouse,
) -> None:
    """One province's daily run (see `crm_pipeline.daily`); PipelineError on a problem.

    A date whose batch and details are both published is not run again unless forced.
    """
    if (
        not ctx.force
        and warehouse.is_published(ctx.day, province, "daily")
        and txn_loaded(warehouse.engine, province, ctx.day)
    ):
        refuse_other_inputs(
            warehouse.published_inputs(ctx.day, province, "daily"),
            _identity(ctx, province, warehouse),
        )
        summary.status = "already published"
        return
    if ctx.force:
        check_force_over_history(warehouse, province, ctx.day)
    record_run(
        warehouse, ctx, province,
        lambda run_id: _daily_steps(ctx, province, rates, summary, warehouse, run_id),
    )  # fmt: skip


def _basis(warehouse: Warehouse, province: str, previous: date) -> str:
    """What a daily run starts from: the previous business date and its published batch."""
    return f"{yyyymmdd(previous)} batch {published_batch_id(warehouse.engine, previous, province)}"


def _identity(ctx: RunContext, province: str, warehouse: Warehouse) -> dict[str, Any]:
    """The identity a run of the date would have now (compared with the published one's)."""
    found = landed_files(ctx.landing, ctx.business_date, province, ctx.mode)
    previous = previous_business_date(warehouse.engine, ctx.landing, province, ctx.day)
    formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
    return context_identity(
        ctx, province, found.files, formulas.formula_ids, formulas.export_filter,
        warehouse_identity(warehouse), _basis(warehouse, province, previous),
    )  # fmt: skip


def _daily_steps(
    ctx: RunContext,
    province: str,
    rates: Callable[[], pa.Table],
    summary: ProvinceSummary,
    warehouse: Warehouse,
    run_id: int,
) -> None:
    preload_validation()  # Great Expectations imported while the steps work
    found = landed_files(ctx.landing, ctx.business_date, province, ctx.mode)
    warehouse.record_warnings(run_id, found.warnings)
    previous = previous_business_date(warehouse.engine, ctx.landing, province, ctx.day)
    formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
    inputs = adopt_run(
        ctx, province, found.files, formulas.formula_ids, formulas.export_filter,
        warehouse_identity(warehouse), _basis(warehouse, province, previous),
    )  # fmt: skip
    staging = ctx.run_staging(province)
    steps = ProvinceSteps.of_run(ctx, province, warehouse, run_id, summary)
    ingested = steps.run("ingest", lambda _: ingest_files(staging, found.files, ctx.force))["files"]
    if steps.stop_here("ingest"):
        return
    paths = {name: staging.batch_table(name) for name in BATCH_TABLES}
    computed: dict[str, pa.Table] = {}  # the batch's tables when this run computed them

    def apply_step(_: int) -> StepResult:
        day = compute_day(ctx, province, previous, ingested, rates())
        for name in BATCH_TABLES:
            computed[name] = getattr(day.batch, name)
            write_table(computed[name], paths[name])
        layer_rows = sum(t.num_rows for layer in day.layers.values() for t in
                         (layer.written, layer.removed))  # fmt: skip
        if layer_stats(ctx.area, province, previous).takes(layer_rows):
            state = write_layer(
                ctx.area, province, ctx.business_date, previous, day.layers, rates(),
                day.currency_totals,
            )  # fmt: skip
        else:
            state = write_state(
                ctx.area, province, ctx.business_date, day.customers.table,
                conform(day.accounts.table, STATE_ACCOUNT), rates(),
            )  # fmt: skip
        # D's whole accounts for the quality gate: their totals per currency (carried with
        # the snapshot), written here so a rerun finds them intact
        accounts_file = state_accounts_file(
            ctx.area, province, ctx.business_date, staging.work / "state_accounts.parquet"
        )
        files = day.batch.files
        counts = {
            **file_totals(files),
            "written": day.batch.customers.num_rows,
            "qualified": day.qualified,
        }
        info = {
            "previous": yyyymmdd(previous),
            "files": [asdict(f) for f in files],
            "source_customers": day.customers.untouched + day.customers.written.num_rows,
            "merged": day.merged,
            "qualified": day.qualified,
            "formula_ids": day.batch.formula_ids,
            "state_accounts": str(accounts_file),
            "batch_tables": {name: str(path) for name, path in paths.items()},
        }
        outputs: list[Path] = [*paths.values(), *state, accounts_file]
        return outputs, counts, info

    applied = steps.run("apply", apply_step)
    if steps.stop_here("apply"):
        return
    files = [FileCounts(**f) for f in applied["files"]]
    written = _batch_paths(applied, staging.work)
    tables = {n: computed[n] if n in computed else read_table(written[n]) for n in BATCH_TABLES}
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode="daily",
        customers=tables["customers"],
        links=tables["links"],
        source_customers=tables["source_customers"],
        accounts=tables["accounts"],
        rejects=tables["rejects"],
        files=files,
        formula_ids=applied["formula_ids"],
        inputs=inputs,
    )

    def gate_inputs() -> GateInputs:
        state_accounts = Path(applied["state_accounts"])
        account_files = [f.staged for f in staged_files(ingested, "account")]
        return GateInputs(
            files, [state_accounts, *account_files], [state_accounts], None,
            data_files(ingested), written["customers"],
        )  # fmt: skip

    notes = quality_gate(
        steps, ctx, warehouse, Night(ctx.day, province, "daily", inputs, run_id), gate_inputs
    )
    if steps.stop_here("quality_gate"):
        return
    batch_id = run_load_step(steps, warehouse, batch, ctx.force, run_id)
    if steps.stop_here("load"):  # published; the transactions are the next task's
        summary.batch_id = batch_id
        return

    def txn_step(_: int) -> StepResult:
        txn_files = load_transactions(ctx, warehouse, province, batch_id, ingested)
        return [], file_totals(txn_files), {"files": [asdict(f) for f in txn_files]}

    txn_files = [FileCounts(**f) for f in steps.run("transactions", txn_step)["files"]]
    summary.files = [*files, *txn_files]
    summary.source_customers = int(applied["source_customers"])
    summary.merged_customers = int(applied["merged"])
    summary.qualified = int(applied["qualified"])
    summary.batch_id = batch_id
    summary.notes = notes
    summary.status = "published"


def _batch_paths(applied: dict[str, Any], work: Path) -> dict[str, Path]:
    """The batch tables the apply step wrote, as its manifest names them. A manifest of
    code before they were Arrow files names none: its tables are the Parquet files it
    wrote, `batch_<table>.parquet`."""
    recorded = applied.get("batch_tables") or {
        name: str(work / f"batch_{name}.parquet") for name in BATCH_TABLES
    }
    return {name: Path(recorded[name]) for name in BATCH_TABLES}
