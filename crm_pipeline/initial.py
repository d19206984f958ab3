"""A province's initial load: ingest, conform (cut into buckets), merge, score, the quality
gate, then the state snapshot written beside the warehouse load (docs/architecture.md).

Each step is a restart point of the run's ledger; conform, merge and score run their files
or buckets as jobs in worker processes (`crm_pipeline.workers`), each a restart point too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common import config as cfg
from common.batch import ProvinceBatch, TableParts
from common.intermediate import IPC_SUFFIX, read_schema
from common.paths import formulas_dir
from common.schema import CUSTOMER_LINK, REJECT, SOURCE_CUSTOMER
from common.staging import RunStaging
from crm_pipeline.buckets import merge_bucket, score_bucket
from crm_pipeline.context import ProvinceSummary, RunContext
from crm_pipeline.history import check_force_over_history
from crm_pipeline.ingest_step import data_files, ingest_files, landed_files, staged_files
from crm_pipeline.load_step import (
    record_run,
    run_load_step,
    warehouse_identity,
)
from crm_pipeline.quality.gate import GateInputs, preload_validation, quality_gate
from crm_pipeline.reconcile import count_by_file, reconciled_counts, write_reject_file
from crm_pipeline.run_identity import adopt_run, context_identity, refuse_other_inputs
from crm_pipeline.state import write_state
from crm_pipeline.steps import ProvinceSteps, StepResult
from crm_pipeline.workers import Job, bucket_workers, run_jobs
from load.quality import Night
from load.warehouse import Warehouse
from transform.partition import (
    FileCut,
    bucket_count,
    cut_accounts,
    cut_customers,
    file_cut,
    first_rows,
    numbers_of,
    partitioned,
)
from transform.scoring import load_formulas


def run_initial_province(
    ctx: RunContext,
    province: str,
    rates: Callable[[], pa.Table],
    summary: ProvinceSummary,
    warehouse: Warehouse,
) -> None:
    """The province's initial load as one `crm_run`; a published date is not run again
    unless forced, and refuses when its inputs are not those it was published from."""
    if not ctx.force and warehouse.is_published(ctx.day, province, ctx.mode):
        found = landed_files(ctx.landing, ctx.business_date, province, ctx.mode)
        formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
        refuse_other_inputs(
            warehouse.published_inputs(ctx.day, province, ctx.mode),
            context_identity(
                ctx, province, found.files, formulas.formula_ids, formulas.export_filter,
                warehouse_identity(warehouse),
            ),
        )  # fmt: skip
        summary.status = "already published"
        return
    if ctx.force:
        check_force_over_history(warehouse, province, ctx.day)
    record_run(
        warehouse, ctx, province,
        lambda run_id: InitialLoad(ctx, province, rates, warehouse, run_id, summary).run(),
    )  # fmt: skip


@dataclass
class _Cut:
    """The conform step's result: every file cut into the same buckets."""

    info: dict[str, Any]

    @property
    def names(self) -> list[str]:
        return [f"{b:04d}" for b in range(int(self.info["buckets"]))]

    @property
    def customers(self) -> list[list[Path]]:
        return [[Path(p) for p in ps] for ps in self.info["customers"]]

    @property
    def accounts(self) -> list[list[Path]]:
        return [[Path(p) for p in ps] for ps in self.info["accounts"]]


class InitialLoad:
    """One province's initial load, step by step, in the order `run` reads."""

    def __init__(
        self,
        ctx: RunContext,
        province: str,
        rates: Callable[[], pa.Table],
        warehouse: Any,
        run_id: int,
        summary: ProvinceSummary,
    ) -> None:
        self.ctx, self.province, self.rates = ctx, province, rates
        self.warehouse, self.run_id, self.summary = warehouse, run_id, summary
        self.layouts = cfg.layouts()
        self.found = landed_files(ctx.landing, ctx.business_date, province, ctx.mode)
        self.formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
        self.staging: RunStaging = ctx.run_staging(province)
        self.steps = ProvinceSteps.of_run(ctx, province, warehouse, run_id, summary)
        input_bytes = sum(f.path.stat().st_size for f in self.found.files)
        self.buckets = bucket_count(input_bytes)
        self.workers = 1 if self.buckets == 1 else bucket_workers(input_bytes)

    def run(self) -> None:
        """The steps in order; returns early after the stop point (`RunContext.stop_after`)."""
        summary, stop_here = self.summary, self.steps.stop_here
        preload_validation()  # Great Expectations imported while the steps work
        files = self.found.files
        self.warehouse.record_warnings(self.run_id, self.found.warnings)
        inputs = adopt_run(
            self.ctx, self.province, files, self.formulas.formula_ids,
            self.formulas.export_filter, warehouse_identity(self.warehouse),
        )  # fmt: skip
        ingested = self.steps.run(
            "ingest", lambda _: ingest_files(self.staging, files, self.ctx.force)
        )["files"]
        if stop_here("ingest"):
            return
        cut = _Cut(self.steps.run("conform", lambda _: self._conform(ingested)))
        if stop_here("conform"):
            return
        names = cut.names
        source_customers = self.staging.buckets("customers", names, IPC_SUFFIX)
        merged = self.staging.buckets("merged", names)
        links = self.staging.buckets("links", names)
        keyed = self.staging.buckets("scoring_input", names, IPC_SUFFIX)
        scored = self.staging.buckets("scored", names)
        merged_counts = self.steps.run(
            "merge", lambda _: self._merge(cut, source_customers, merged, links)
        )["counts"]
        if stop_here("merge"):
            return
        score_counts = self.steps.run(
            "score", lambda _: self._score(cut, links, merged, keyed, scored)
        )["counts"]
        if stop_here("score"):
            return

        late_rejects = pa.concat_tables(pq.read_table(p).cast(REJECT) for p in cut.info["rejects"])
        rejects = pa.concat_tables([pq.read_table(r["rejects"]) for r in ingested] + [late_rejects])
        write_reject_file(rejects, self.staging.rejects_csv)
        self.staging.area.save(self.staging.rejects_csv)  # for an operator: no ledger lists it
        summary.files = reconciled_counts(
            ingested,
            cut.info["kept"],
            count_by_file(late_rejects),
            cut.info["filtered"],
            cut.info["flagged"],
        )
        summary.source_customers = int(merged_counts["read"])
        summary.merged_customers = int(merged_counts["written"])
        summary.qualified = int(score_counts["qualified"])
        batch = ProvinceBatch(
            business_date=self.ctx.day,
            province=self.province,
            mode=self.ctx.mode,
            customers=TableParts(tuple(scored), _schema_of(scored)),
            links=TableParts(tuple(links), CUSTOMER_LINK),
            source_customers=TableParts(tuple(source_customers), SOURCE_CUSTOMER),
            accounts=TableParts(tuple(keyed), _schema_of(keyed)),
            rejects=rejects,
            files=summary.files,
            formula_ids=self.formulas.formula_ids,
            inputs=inputs,
        )
        conformed_accounts = [p for ps in cut.accounts for p in ps]
        night = Night(self.ctx.day, self.province, self.ctx.mode, inputs, self.run_id)
        summary.notes = quality_gate(
            self.steps, self.ctx, self.warehouse, night,
            lambda: GateInputs(
                summary.files, [f.staged for f in staged_files(ingested, "account")],
                keyed, scored, data_files(ingested),
            ),
        )  # fmt: skip
        if stop_here("quality_gate"):
            return

        def state_step(_: int) -> StepResult:
            written = write_state(
                self.ctx.area,
                self.province,
                self.ctx.business_date,
                TableParts(tuple(source_customers), SOURCE_CUSTOMER),
                TableParts(tuple(conformed_accounts), _schema_of(conformed_accounts)),
                self.rates(),
            )
            return written, {}, {}

        # The state snapshot is written while the warehouse loads: files on one side,
        # PostgreSQL on the other, and neither needs the other.
        summary.batch_id = run_load_step(
            self.steps, self.warehouse, batch, self.ctx.force, self.run_id, beside=state_step
        )
        summary.status = "published"

    def _conform(self, ingested: list[dict[str, Any]]) -> StepResult:
        """Each file cut into buckets by a worker (its own restart point); customer files
        first, since an account goes to the bucket of its customer."""
        customer_files = staged_files(ingested, "customer")
        account_files = staged_files(ingested, "account")
        cut, buckets = self.staging.partition, self.buckets
        ledger = self.steps.ledger.of("conform")
        masks = first_rows(customer_files, "cust_no")
        jobs = [
            Job(f.source_path.name, cut_customers, (f, first, buckets, cut),
                _cut_outputs(file_cut(cut, "customers", f), buckets, numbers=True),
                f.staged.stat().st_size)
            for f, first in zip(customer_files, masks, strict=True)
        ]  # fmt: skip
        del masks
        pa.default_memory_pool().release_unused()
        # Found after the customer files are cut, not meanwhile in the runner: that saved
        # nothing measurable and would stack the runner's hashes on both workers' peaks.
        counts = run_jobs(ledger, jobs, self.workers)
        masks = first_rows(account_files, "acct_no")
        pa.default_memory_pool().release_unused()
        jobs = [
            Job(f.source_path.name, cut_accounts,
                (f, first, numbers_of(cut, customer_files, f.system), self.rates(),
                 self.formulas.export_filter, self.ctx.mode == "initial", buckets, cut),
                _cut_outputs(file_cut(cut, "accounts", f), buckets, numbers=False),
                f.staged.stat().st_size)
            for f, first in zip(account_files, masks, strict=True)
        ]  # fmt: skip
        del masks
        counts += run_jobs(ledger, jobs, self.workers)
        parts = partitioned(customer_files, account_files, counts, buckets, cut)
        total = {k: sum(c[k] for c in counts) for k in ("kept", "set_aside", "filtered")}
        info = {
            "buckets": parts.buckets,
            "customers": [[str(p) for p in ps] for ps in parts.customers],
            "accounts": [[str(p) for p in ps] for ps in parts.accounts],
            "rejects": [str(p) for p in parts.rejects],
            "kept": parts.kept,
            "filtered": parts.filtered,
            "flagged": parts.flagged,
        }
        outputs = [p for ps in parts.customers + parts.accounts for p in ps] + parts.rejects
        return outputs, {**total, "buckets": buckets}, info

    def _merge(
        self, cut: _Cut, source_customers: list[Path], merged: list[Path], links: list[Path]
    ) -> StepResult:
        priority = tuple(cfg.provinces().source_priority)
        customers = cut.customers
        jobs = [
            Job(b, merge_bucket,
                (customers[i], source_customers[i], merged[i], links[i], priority),
                (source_customers[i], merged[i], links[i]))
            for i, b in enumerate(cut.names)
        ]  # fmt: skip
        results = run_jobs(self.steps.ledger.of("merge"), jobs, self.workers)
        counts = {k: sum(r[k] for r in results) for k in ("read", "written")}
        return [*source_customers, *merged, *links], counts, {}

    def _score(
        self,
        cut: _Cut,
        links: list[Path],
        merged: list[Path],
        keyed: list[Path],
        scored: list[Path],
    ) -> StepResult:
        accounts = cut.accounts
        jobs = [
            Job(b, score_bucket,
                (self.province, self.ctx.day, accounts[i], links[i], merged[i],
                 keyed[i], scored[i], self.formulas.formula_ids),
                (keyed[i], scored[i]))
            for i, b in enumerate(cut.names)
        ]  # fmt: skip
        results = run_jobs(self.steps.ledger.of("score"), jobs, self.workers)
        counts = {k: sum(r[k] for r in results) for k in ("read", "written", "qualified")}
        return [*keyed, *scored], counts, {}


def _cut_outputs(cut: FileCut, buckets: int, *, numbers: bool) -> tuple[Path, ...]:
    extra = (cut.numbers,) if numbers else ()
    return (*(cut.bucket(b) for b in range(buckets)), cut.rejects, *extra)


def _schema_of(parts: Sequence[Path]) -> pa.Schema:
    return read_schema(parts[0])
