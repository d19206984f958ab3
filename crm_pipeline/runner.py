"""Runs a business date's load, province by province, through the steps of docs/architecture.md.

The same functions serve the command line and the Airflow DAGs. Each step writes its
outputs into the staging area and then a small manifest (`_steps/{step}.json`) listing them
with their sizes; a rerun skips a step whose manifest and outputs are intact (restart at
step depth) and redoes it otherwise. One province's failure never stops the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_pipeline import config as cfg
from crm_pipeline.errors import FileRejected, PipelineError
from crm_pipeline.paths import formulas_dir, project_path
from extract.landing import LandedFile, fx_file, province_files, provinces_in_landing
from transform.batch import FileCounts, ProvinceBatch
from transform.conform import StagedFile, conform_accounts, conform_customers
from transform.fx import rates_table
from transform.ingest import ingest_file
from transform.merge import merge_customers
from transform.schema import REJECT

log = logging.getLogger(__name__)


@dataclass
class ProvinceSummary:
    """What an operator needs to see about one province's run."""

    province: str
    status: str  # published | already published | failed
    error: str | None = None
    files: list[FileCounts] = field(default_factory=list)
    source_customers: int = 0
    merged_customers: int = 0
    qualified: int = 0
    batch_id: int | None = None
    seconds: float = 0.0

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)


@dataclass(frozen=True)
class RunContext:
    business_date: str  # YYYYMMDD
    mode: str  # initial | daily
    landing: Path
    staging: Path
    warehouse_url: str
    force: bool = False

    @property
    def day(self) -> date:
        return datetime.strptime(self.business_date, "%Y%m%d").date()

    def province_dir(self, province: str) -> Path:
        return self.staging / self.business_date / province / self.mode


class StepLog:
    """File-based step manifests in the staging area: the restart points of a province."""

    def __init__(self, directory: Path, force: bool) -> None:
        self.directory = directory / "_steps"
        self.force = force

    def done(self, step: str) -> dict[str, Any] | None:
        path = self.directory / f"{step}.json"
        if self.force or not path.exists():
            return None
        manifest: dict[str, Any] = json.loads(path.read_text())
        for output, size in manifest.get("outputs", {}).items():
            p = Path(output)
            if not p.exists() or p.stat().st_size != size:
                log.info("step %s: output %s changed or missing, redoing the step", step, p)
                return None
        return manifest

    def record(self, step: str, outputs: Sequence[Path], **info: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = {"outputs": {str(p): p.stat().st_size for p in outputs}, **info}
        tmp = self.directory / f"{step}.json.tmp"
        tmp.write_text(json.dumps(manifest, default=str))
        tmp.replace(self.directory / f"{step}.json")


def _staged_fx(ctx: RunContext) -> pa.Table:
    """The date's FX rates, ingested once for every province."""
    landed = fx_file(ctx.landing, ctx.business_date)
    layouts = cfg.layouts()
    out = ctx.staging / ctx.business_date / "_fx" / landed.name.replace(".dat", ".parquet")
    steps = StepLog(out.parent, ctx.force)
    if not steps.done("fx"):
        result = ingest_file(
            landed.path, layouts.layouts["FXR_RATE"], layouts, landed.flag, out, ""
        )
        if result.set_aside:
            reasons = "; ".join(
                f"line {r['line']}: {r['reason']}" for r in result.rejects.to_pylist()
            )
            raise FileRejected(landed.name, f"bad FX rate records: {reasons}")
        steps.record("fx", [out])
    return rates_table(pq.read_table(out))


def _ingest(work: Path, files: list[LandedFile], steps: StepLog) -> list[dict[str, Any]]:
    """Parse, type and stage each file; its counts so far (read, set aside at ingestion)."""
    layouts = cfg.layouts()
    manifest = steps.done("ingest")
    if manifest:
        return list(manifest["files"])
    parsed = work / "parsed"
    records: list[dict[str, Any]] = []
    outputs: list[Path] = []
    for landed in files:
        layout = layouts.layout_for(landed.system, landed.entity)
        out = parsed / landed.name.replace(".dat", ".parquet")
        result = ingest_file(landed.path, layout, layouts, landed.flag, out, landed.branch)
        rejects_out = parsed / landed.name.replace(".dat", ".rejects.parquet")
        pq.write_table(result.rejects, rejects_out)
        outputs += [out, rejects_out]
        records.append(
            {
                "file": landed.name,
                "branch": landed.branch,
                "system": landed.system,
                "entity": landed.entity,
                "path": str(landed.path),
                "staged": str(out),
                "rejects": str(rejects_out),
                "read": result.read,
                "set_aside": result.set_aside,
            }
        )
        log.info(
            "%s: read %d, kept %d, set aside %d",
            landed.name,
            result.read,
            result.kept,
            result.set_aside,
        )
    steps.record("ingest", outputs, files=records)
    return records


def _count_by_file(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    counts = table.group_by("file").aggregate([("file", "count")])
    return dict(
        zip(counts.column("file").to_pylist(), counts.column("file_count").to_pylist(), strict=True)
    )


def run_province(ctx: RunContext, province: str, rates: Callable[[], pa.Table]) -> ProvinceSummary:
    """One province's whole load; never raises for a data problem, returns a failed summary."""
    started = time.monotonic()
    summary = ProvinceSummary(province, "failed")
    try:
        if ctx.mode == "daily":
            from crm_pipeline.daily import run_daily_province

            run_daily_province(ctx, province, rates, summary)
        else:
            _run_province(ctx, province, rates, summary)
    except PipelineError as exc:
        summary.status, summary.error = "failed", str(exc)
        log.error("%s: %s", province, exc)
    summary.seconds = time.monotonic() - started
    return summary


def _run_province(
    ctx: RunContext, province: str, rates: Callable[[], pa.Table], summary: ProvinceSummary
) -> None:
    from load.warehouse import Warehouse  # the load stage's I/O stays at the edge
    from transform.scoring import load_formulas

    provinces = cfg.provinces()
    layouts = cfg.layouts()
    warehouse = Warehouse(ctx.warehouse_url)
    if not ctx.force and warehouse.is_published(ctx.day, province, ctx.mode):
        summary.status = "already published"
        return
    found = province_files(ctx.landing, ctx.business_date, province, ctx.mode, provinces)
    if not found.branches:
        raise PipelineError(f"no branch folder of {province} for {ctx.business_date}")
    if found.problems:
        raise PipelineError("not published: " + "; ".join(str(p) for p in found.problems))
    formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
    work = ctx.province_dir(province)
    steps = StepLog(work, ctx.force)
    ingested = _ingest(work, found.files, steps)

    def staged(role: str) -> list[StagedFile]:
        return [
            StagedFile(
                Path(r["path"]),
                Path(r["staged"]),
                layouts.layout_for(r["system"], r["entity"]),
                r["system"],
                r["entity"],
                r["branch"],
            )
            for r in ingested
            if layouts.layout_for(r["system"], r["entity"]).role == role
        ]

    customers = conform_customers(staged("customer"))
    accounts = conform_accounts(
        staged("account"),
        customers.table,
        rates(),
        formulas.export_filter if ctx.mode == "initial" else None,
    )
    merged, links = merge_customers(customers.table, provinces.source_priority)
    keyed = accounts.table.join(
        links.select(["source", "cust_no", "cust_key"]),
        keys=["source", "cust_no"],
        join_type="inner",
    )
    keyed = keyed.join(merged.select(["cust_key", "cust_type"]), keys="cust_key")
    pq.write_table(keyed, work / "scoring_input.parquet")
    pq.write_table(merged, work / "merged.parquet")
    scores = formulas.score(keyed, merged)
    customers_scored = merged.join(scores, keys="cust_key")

    rejects = pa.concat_tables(
        [pq.read_table(r["rejects"]) for r in ingested]
        + [customers.rejects.cast(REJECT), accounts.rejects.cast(REJECT)]
    )
    late_rejects = _count_by_file(pa.concat_tables([customers.rejects, accounts.rejects]))
    kept = {**_count_by_file(customers.table), **_count_by_file(accounts.table)}
    flagged = _count_by_file(customers.table.filter(pc.invert(customers.table.column("id_valid"))))
    summary.files = [
        FileCounts(
            file=r["file"],
            branch=r["branch"],
            system=r["system"],
            entity=r["entity"],
            read=r["read"],
            kept=kept.get(r["file"], 0),
            set_aside=r["set_aside"] + late_rejects.get(r["file"], 0),
            filtered=accounts.filtered.get(r["file"], 0),
            flagged=flagged.get(r["file"], 0),
        )
        for r in ingested
    ]
    unbalanced = [f for f in summary.files if not f.balanced()]
    if unbalanced:
        raise PipelineError(
            "reconciliation failed: "
            + "; ".join(
                f"{f.file}: read {f.read} != kept {f.kept} + set aside {f.set_aside}"
                f" + filtered {f.filtered}"
                for f in unbalanced
            )
        )
    summary.source_customers = customers.table.num_rows
    summary.merged_customers = merged.num_rows
    summary.qualified = pc.sum(scores.column("qualified").cast(pa.int64())).as_py() or 0
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode=ctx.mode,
        customers=customers_scored,
        links=links,
        source_customers=customers.table,
        accounts=keyed,
        rejects=rejects,
        files=summary.files,
        formula_ids=formulas.formula_ids,
    )
    write_state(ctx.staging, province, ctx.business_date, customers.table, accounts.table)
    result = warehouse.write_batch(batch, force=ctx.force)
    summary.batch_id = getattr(result, "batch_id", None)
    summary.status = "published"


def state_dir(staging: Path, province: str, business_date: str) -> Path:
    """The province's copy of every system's customers and accounts as of a business date.

    Snapshots are immutable and dated: a daily run for D reads D-1's and writes D's, so a
    rerun of D starts again from the same input and a crash leaves the previous one intact.
    """
    return staging / "state" / province / business_date


def write_state(
    staging: Path, province: str, business_date: str, customers: pa.Table, accounts: pa.Table
) -> Path:
    target = state_dir(staging, province, business_date)
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    pq.write_table(customers, tmp / "customers.parquet")
    pq.write_table(accounts, tmp / "accounts.parquet")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.replace(target)
    return target


def run_date(
    business_date: str,
    mode: str,
    landing: Path,
    provinces: Sequence[str] | None = None,
    warehouse_url: str | None = None,
    staging: Path | None = None,
    force: bool = False,
) -> list[ProvinceSummary]:
    """Load every requested province (all found in the landing zone by default)."""
    settings = cfg.settings()
    ctx = RunContext(
        business_date=business_date,
        mode=mode,
        landing=landing,
        staging=staging or project_path(settings.staging_dir),
        warehouse_url=warehouse_url or default_warehouse_url(),
        force=force,
    )
    wanted = (
        list(provinces)
        if provinces
        else provinces_in_landing(landing, business_date, cfg.provinces())
    )
    unknown = [p for p in wanted if p not in cfg.provinces().provinces]
    if unknown:
        raise PipelineError(
            f"unknown province(s): {', '.join(unknown)} (see config/provinces.yaml)"
        )
    from load.warehouse import Warehouse

    Warehouse(ctx.warehouse_url).upgrade()  # the schema is the migrations' head, always
    fx_cache: list[pa.Table] = []

    def rates() -> pa.Table:
        if not fx_cache:
            fx_cache.append(_staged_fx(ctx))
        return fx_cache[0]

    return [run_province(ctx, province, rates) for province in wanted]


def default_warehouse_url() -> str:
    import os

    return os.environ.get("CRM_WAREHOUSE_URL") or cfg.settings().warehouse_url
