"""Runs a business date's load, province by province, through the steps of docs/architecture.md.

The same functions serve the command line and the Airflow DAGs. Each step writes its
outputs into the staging area and then a small manifest (`_steps/{step}.json`) listing them
with their sizes; a rerun skips a step whose manifest and outputs are intact (restart at
step depth) and redoes it otherwise. One province's failure never stops the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common import config as cfg
from common.batch import BatchTable, FileCounts, ProvinceBatch, TableParts, parts_of
from common.errors import FileRejected, PipelineError
from common.intermediate import IPC_SUFFIX, read_schema
from common.paths import formulas_dir, project_path
from common.schema import CUSTOMER_LINK, REJECT, SOURCE_CUSTOMER
from crm_pipeline.buckets import merge_bucket, score_bucket
from extract.flag import read_checker
from extract.landing import (
    LandedFile,
    ProvinceFiles,
    fx_file,
    province_files,
    provinces_in_landing,
)
from extract.lines import raw_lines
from extract.records import iter_raw_chunks
from transform.conform import StagedFile
from transform.fx import rates_table
from transform.ingest import ingest_file
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
        self.recorded: set[str] = set()  # steps done by this run (reusable even when forced)

    def done(self, step: str) -> dict[str, Any] | None:
        path = self.directory / f"{step}.json"
        if (self.force and step not in self.recorded) or not path.exists():
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
        tmp = self.directory / f"{step}.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(manifest, default=str))
        tmp.replace(self.directory / f"{step}.json")
        self.recorded.add(step)


def stage_fx_rates(ctx: RunContext) -> pa.Table:
    """The date's FX rates, ingested once for every province."""
    landed = fx_file(ctx.landing, ctx.business_date)
    layouts = cfg.layouts()
    out = ctx.staging / ctx.business_date / "_fx" / landed.name.replace(".dat", ".parquet")
    steps = StepLog(out.parent, ctx.force)
    if not steps.done("fx"):
        result = ingest_file(
            iter_raw_chunks(landed.path, layouts.layouts["FXR_RATE"]),
            landed.path,
            layouts.layouts["FXR_RATE"],
            layouts,
            out,
            "",
            raw_lines,
            read_checker(landed.name, landed.flag),
        )
        if result.set_aside:
            reasons = "; ".join(
                f"line {r['line']}: {r['reason']}" for r in result.rejects.to_pylist()
            )
            raise FileRejected(landed.name, f"bad FX rate records: {reasons}")
        steps.record("fx", [out])
    return rates_table(pq.read_table(out))


def crash_point(name: str) -> None:
    """Fault injection for the restart tests: SIGKILL this process at the named point.

    Inert unless CRM_CRASH_AT names this point (e.g. `after:merge`, `ingest:RTL_ACCT_ZJ_20261124.dat`,
    `load:stg_account:2`). A kill, not an exception: nothing gets to clean up, as in a real crash.
    """
    if os.environ.get("CRM_CRASH_AT") == name:
        log.warning("CRM_CRASH_AT=%s: killing the process", name)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


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

    def __init__(self, work: Path, force: bool, warehouse: Any, run_id: int) -> None:
        self.log = StepLog(work, force)
        self.warehouse = warehouse
        self.run_id = run_id

    def run(self, name: str, body: StepBody) -> dict[str, Any]:
        """`body(step_id)` returns (outputs, counts, info); its manifest is what a rerun reuses."""
        step_id, manifest = self._start(name)
        if manifest is not None:
            return manifest
        try:
            outputs, counts, info = body(step_id)
        except Exception as exc:
            self.warehouse.fail_step(step_id, f"{type(exc).__name__}: {exc}")
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
        manifest = self.log.done(name)
        if manifest is not None:
            self.warehouse.finish_step(step_id, {**manifest.get("counts", {}), "skipped": 1})
            log.info("step %s: outputs intact, not redone", name)
            return step_id, manifest
        crash_point(f"before:{name}")
        return step_id, None

    def _settle(
        self, name: str, step_id: int, pending: Future[StepResult], raise_error: bool
    ) -> None:
        try:
            outputs, counts, info = pending.result()
        except Exception as exc:
            self.warehouse.fail_step(step_id, f"{type(exc).__name__}: {exc}")
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
        self.log.record(name, outputs, counts=counts, **info)
        self.warehouse.finish_step(step_id, counts)
        crash_point(f"after:{name}")
        manifest = self.log.done(name)
        assert manifest is not None
        return manifest


# Files are ingested by this many worker processes at once (both cores of the machine;
# each file is parsed, typed and staged by one worker). CRM_INGEST_WORKERS overrides it.
# Below INGEST_POOL_MIN_BYTES of input, starting the workers costs more than it saves.
INGEST_WORKERS = 2
INGEST_POOL_MIN_BYTES = 16 * 2**20


def _ingest_workers(files: list[LandedFile]) -> int:
    wanted = int(os.environ.get("CRM_INGEST_WORKERS") or INGEST_WORKERS)
    if sum(f.path.stat().st_size for f in files) < INGEST_POOL_MIN_BYTES:
        return 1
    return max(1, min(wanted, len(files), os.cpu_count() or 1))


def _init_worker(parent: int, arrow_threads: int) -> None:
    """Worker initializer: Arrow's CPU pool sized to the worker's share of the cores (the
    workers are the parallelism: with a pool as large as the machine in each, its threads
    only added their overhead: a 10M transform 45.2 -> 43.4 s, 83 -> 81 CPU seconds), and
    the worker killed when the runner dies (`_die_with_parent`)."""
    pa.set_cpu_count(arrow_threads)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Killed when the runner dies (a crash must not leave a worker writing a staged file
    that the rerun is writing too, nor holding the runner's output pipes open). Linux
    only; elsewhere a no-op. A parent that died while this worker was starting (before
    the request took effect) is seen by its pid having changed."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def worker_pool(workers: int) -> Any:
    """A pool of `workers` processes, or None for one (the work is then done in-process)."""
    if workers <= 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked copy of a process running Arrow's thread pools can hang.
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(), max(1, (os.cpu_count() or 1) // workers)),
    )


@dataclass(frozen=True)
class Job:
    """One restartable piece of a step (a bucket): `run(*args)` writes `outputs`, returns counts."""

    name: str
    run: Callable[..., dict[str, int]]
    args: tuple[Any, ...]
    outputs: tuple[Path, ...]
    weight: int = 0  # the larger first: a large job started last leaves the other cores idle


def run_jobs(
    directory: Path, jobs: Sequence[Job], force: bool, workers: int
) -> list[dict[str, int]]:
    """Run each job whose own manifest (under `directory`) is not intact, in worker
    processes, recording each as it completes; the counts of every job, in order.

    A worker does not force Arrow's freed memory back after a job (`release_unused`):
    mimalloc hands it back on its own shortly after (its purge delay), and the forced
    release made the next job fault the same pages in again (10M transform 40.2 -> 38.4 s,
    2 s less kernel time; sampled peaks unchanged: 1,507 MiB at 10M, 1,829 at 30M)."""
    done = StepLog(directory, force)
    todo = [job for job in jobs if done.done(job.name) is None]
    pool = worker_pool(min(workers, len(todo)))
    try:
        futures = (
            {
                job.name: pool.submit(job.run, *job.args)
                for job in sorted(todo, key=lambda job: -job.weight)
            }
            if pool
            else {}
        )
        results = []
        for job in jobs:
            manifest = done.done(job.name)
            if manifest is None:
                future = futures.get(job.name)
                counts = future.result() if future is not None else job.run(*job.args)
                done.record(job.name, list(job.outputs), counts=counts)
                crash_point(f"{directory.name}:{job.name}")
                manifest = done.done(job.name)
                assert manifest is not None
            results.append(manifest["counts"])
        return results
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _ingest_one(landed: LandedFile, out: Path, rejects_out: Path) -> tuple[int, int, int]:
    """Parse, type and stage one file (in a worker process): its read, kept, set aside."""
    layouts = cfg.layouts()
    layout = layouts.layout_for(landed.system, landed.entity)
    result = ingest_file(
        iter_raw_chunks(landed.path, layout),
        landed.path,
        layout,
        layouts,
        out,
        landed.branch,
        raw_lines,
        read_checker(landed.name, landed.flag),
    )
    pq.write_table(result.rejects, rejects_out)
    return result.read, result.kept, result.set_aside


def ingest_files(
    work: Path, files: list[LandedFile], force: bool
) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
    """Parse, type and stage each file. A file already staged (its own manifest intact) is
    not parsed again, so a crash in the middle of a province resumes at the next file.

    The files to parse go to a pool of worker processes, largest first; their results are
    recorded here, in file order, each as soon as it and the files before it are done.
    """
    parsed = work / "parsed"
    per_file = StepLog(parsed, force)
    records: list[dict[str, Any]] = []
    outputs: list[Path] = []
    skipped = 0
    todo = [landed for landed in files if per_file.done(landed.name) is None]
    workers = _ingest_workers(todo)
    pool = worker_pool(workers)
    futures: dict[str, Any] = {}
    if pool is not None:
        parsed.mkdir(parents=True, exist_ok=True)
        for landed in sorted(todo, key=lambda f: -f.path.stat().st_size):
            futures[landed.name] = pool.submit(
                _ingest_one,
                landed,
                parsed / landed.name.replace(".dat", ".parquet"),
                parsed / landed.name.replace(".dat", ".rejects.parquet"),
            )
    try:
        for landed in files:
            done = per_file.done(landed.name)
            if done is None:
                out = parsed / landed.name.replace(".dat", ".parquet")
                rejects_out = parsed / landed.name.replace(".dat", ".rejects.parquet")
                if landed.name in futures:
                    read, kept, set_aside = futures[landed.name].result()
                else:
                    read, kept, set_aside = _ingest_one(landed, out, rejects_out)
                record = {
                    "file": landed.name,
                    "branch": landed.branch,
                    "system": landed.system,
                    "entity": landed.entity,
                    "path": str(landed.path),
                    "staged": str(out),
                    "rejects": str(rejects_out),
                    "read": read,
                    "set_aside": set_aside,
                }
                per_file.record(landed.name, [out, rejects_out], file=record)
                log.info("%s: read %d, kept %d, set aside %d", landed.name, read, kept, set_aside)
                crash_point(f"ingest:{landed.name}")
                done = per_file.done(landed.name)
                assert done is not None
            else:
                skipped += 1
            records.append(done["file"])
            outputs += [Path(done["file"]["staged"]), Path(done["file"]["rejects"])]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    counts = {
        "read": sum(r["read"] for r in records),
        "set_aside": sum(r["set_aside"] for r in records),
        "files": len(records),
        "files_parsed": len(records) - skipped,
        "files_skipped": skipped,
    }
    return outputs, counts, {"files": records}


def count_by_file(table: pa.Table) -> dict[str, int]:
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
    warehouse = province_warehouse(ctx)
    if not ctx.force and warehouse.is_published(ctx.day, province, ctx.mode):
        summary.status = "already published"
        return
    record_run(
        warehouse, ctx, province,
        lambda run_id: _initial_steps(ctx, province, rates, summary, warehouse, run_id),
    )  # fmt: skip


def province_warehouse(ctx: RunContext) -> Any:
    """The warehouse a province's run writes to (CRM_LOAD_CHUNK_ROWS: rows per load chunk)."""
    from load.warehouse import Warehouse  # the load stage's I/O stays at the edge

    chunk_rows = os.environ.get("CRM_LOAD_CHUNK_ROWS")
    return Warehouse(ctx.warehouse_url, chunk_rows=int(chunk_rows) if chunk_rows else None)


def record_run(
    warehouse: Any, ctx: RunContext, province: str, steps: Callable[[int], None]
) -> None:
    """Run a province's steps as one `crm_run`, completed or failed."""
    run_id = warehouse.start_run(ctx.day, province, ctx.mode)
    try:
        steps(run_id)
    except BaseException:
        warehouse.finish_run(run_id, "failed")
        raise
    warehouse.finish_run(run_id, "completed")


def landed_files(ctx: RunContext, province: str) -> ProvinceFiles:
    """The province's files of the date and mode, all present and agreeing with their flags."""
    found = province_files(ctx.landing, ctx.business_date, province, ctx.mode, cfg.provinces())
    if not found.branches:
        raise PipelineError(f"no branch folder of {province} for {ctx.business_date}")
    if found.problems:
        raise PipelineError("not published: " + "; ".join(str(p) for p in found.problems))
    return found


def _initial_steps(
    ctx: RunContext,
    province: str,
    rates: Callable[[], pa.Table],
    summary: ProvinceSummary,
    warehouse: Any,
    run_id: int,
) -> None:
    from transform.scoring import load_formulas

    provinces = cfg.provinces()
    layouts = cfg.layouts()
    found = landed_files(ctx, province)
    formulas = load_formulas(formulas_dir()).for_province(province, ctx.day)
    work = ctx.province_dir(province)
    steps = ProvinceSteps(work, ctx.force, warehouse, run_id)

    ingested = steps.run("ingest", lambda _: ingest_files(work, found.files, ctx.force))["files"]

    def staged(role: str) -> list[StagedFile]:
        return [
            StagedFile(
                Path(r["path"]),
                Path(r["staged"]),
                layouts.layout_for(r["system"], r["entity"]),
                r["system"],
                r["entity"],
                r["branch"],
                raw_lines,
            )
            for r in ingested
            if layouts.layout_for(r["system"], r["entity"]).role == role
        ]

    buckets = bucket_count(sum(f.path.stat().st_size for f in found.files))
    workers = 1 if buckets == 1 else _bucket_workers()
    cut = work / "partition"
    customer_files, account_files = staged("customer"), staged("account")

    def conform_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        """Each file cut into buckets by a worker (its own restart point); customer files
        first, since an account goes to the bucket of its customer."""
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
        counts = run_jobs(work / "conform", jobs, ctx.force, workers)
        masks = first_rows(account_files, "acct_no")
        pa.default_memory_pool().release_unused()
        jobs = [
            Job(f.source_path.name, cut_accounts,
                (f, first, numbers_of(cut, customer_files, f.system), rates(),
                 formulas.export_filter, ctx.mode == "initial", buckets, cut),
                _cut_outputs(file_cut(cut, "accounts", f), buckets, numbers=False),
                f.staged.stat().st_size)
            for f, first in zip(account_files, masks, strict=True)
        ]  # fmt: skip
        del masks
        counts += run_jobs(work / "conform", jobs, ctx.force, workers)
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

    cut_info = steps.run("conform", conform_step)
    bucket_names = [f"{b:04d}" for b in range(int(cut_info["buckets"]))]
    customer_cuts = [[Path(p) for p in ps] for ps in cut_info["customers"]]
    account_cuts = [[Path(p) for p in ps] for ps in cut_info["accounts"]]
    conformed_accounts = [p for ps in account_cuts for p in ps]

    def bucket_paths(folder: str, suffix: str = ".parquet") -> list[Path]:
        (work / folder).mkdir(parents=True, exist_ok=True)
        return [work / folder / f"{b}{suffix}" for b in bucket_names]

    # Read back whole (the load's contacts, the state snapshot): Arrow IPC files, as the
    # account cuts and the scoring input (common.intermediate).
    source_customers = bucket_paths("customers", IPC_SUFFIX)
    merged_parts, link_parts = bucket_paths("merged"), bucket_paths("links")
    keyed_parts = bucket_paths("scoring_input", IPC_SUFFIX)
    scored_parts = bucket_paths("scored")

    def merge_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        priority = tuple(provinces.source_priority)
        jobs = [
            Job(b, merge_bucket,
                (customer_cuts[i], source_customers[i], merged_parts[i], link_parts[i], priority),
                (source_customers[i], merged_parts[i], link_parts[i]))
            for i, b in enumerate(bucket_names)
        ]  # fmt: skip
        results = run_jobs(work / "merge", jobs, ctx.force, workers)
        counts = {k: sum(r[k] for r in results) for k in ("read", "written")}
        return [*source_customers, *merged_parts, *link_parts], counts, {}

    merged_counts = steps.run("merge", merge_step)["counts"]

    def score_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        jobs = [
            Job(
                b,
                score_bucket,
                (province, ctx.day, account_cuts[i], link_parts[i], merged_parts[i],
                 keyed_parts[i], scored_parts[i]),
                (keyed_parts[i], scored_parts[i]),
            )
            for i, b in enumerate(bucket_names)
        ]  # fmt: skip
        results = run_jobs(work / "score", jobs, ctx.force, workers)
        counts = {k: sum(r[k] for r in results) for k in ("read", "written", "qualified")}
        return [*keyed_parts, *scored_parts], counts, {}

    score_counts = steps.run("score", score_step)["counts"]

    late_rejects_table = pa.concat_tables(
        pq.read_table(p).cast(REJECT) for p in cut_info["rejects"]
    )
    rejects = pa.concat_tables(
        [pq.read_table(r["rejects"]) for r in ingested] + [late_rejects_table]
    )
    write_reject_file(rejects, work / "rejects.csv")
    summary.files = reconciled_counts(
        ingested,
        cut_info["kept"],
        count_by_file(late_rejects_table),
        cut_info["filtered"],
        cut_info["flagged"],
    )
    summary.source_customers = int(merged_counts["read"])
    summary.merged_customers = int(merged_counts["written"])
    summary.qualified = int(score_counts["qualified"])
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode=ctx.mode,
        customers=TableParts(tuple(scored_parts), _schema_of(scored_parts)),
        links=TableParts(tuple(link_parts), CUSTOMER_LINK),
        source_customers=TableParts(tuple(source_customers), SOURCE_CUSTOMER),
        accounts=TableParts(tuple(keyed_parts), _schema_of(keyed_parts)),
        rejects=rejects,
        files=summary.files,
        formula_ids=formulas.formula_ids,
    )

    def state_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        target = write_state(
            ctx.staging,
            province,
            ctx.business_date,
            TableParts(tuple(source_customers), SOURCE_CUSTOMER),
            TableParts(tuple(conformed_accounts), _schema_of(conformed_accounts)),
        )
        return [target / "customers.arrow", target / "accounts.arrow"], {}, {}

    # The state snapshot is written while the warehouse loads: files on one side,
    # PostgreSQL on the other, and neither needs the other.
    summary.batch_id = run_load_step(steps, warehouse, batch, ctx.force, run_id, beside=state_step)
    summary.status = "published"


# Buckets are merged and scored by this many worker processes (CRM_BUCKET_WORKERS).
BUCKET_WORKERS = 2


def _bucket_workers() -> int:
    wanted = int(os.environ.get("CRM_BUCKET_WORKERS") or BUCKET_WORKERS)
    return max(1, min(wanted, os.cpu_count() or 1))


def _cut_outputs(cut: FileCut, buckets: int, *, numbers: bool) -> tuple[Path, ...]:
    extra = (cut.numbers,) if numbers else ()
    return (*(cut.bucket(b) for b in range(buckets)), cut.rejects, *extra)


def _schema_of(parts: Sequence[Path]) -> pa.Schema:
    return read_schema(parts[0])


def reconciled_counts(
    ingested: Sequence[dict[str, Any]],
    kept: dict[str, int],
    set_aside_later: dict[str, int],
    filtered: dict[str, int],
    flagged: dict[str, int],
) -> list[FileCounts]:
    """Each ingested file's FileCounts; PipelineError unless read = kept + set aside + filtered.

    `ingested` are the ingest step's records (read and set aside at parsing); the dicts,
    by file name, add what later steps kept, set aside, filtered and flagged.
    """
    files = [
        FileCounts(
            file=r["file"],
            branch=r["branch"],
            system=r["system"],
            entity=r["entity"],
            read=r["read"],
            kept=kept.get(r["file"], 0),
            set_aside=r["set_aside"] + set_aside_later.get(r["file"], 0),
            filtered=filtered.get(r["file"], 0),
            flagged=flagged.get(r["file"], 0),
        )
        for r in ingested
    ]
    check_reconciled(files)
    return files


def check_reconciled(files: Sequence[FileCounts]) -> None:
    unbalanced = [f for f in files if not f.balanced()]
    if unbalanced:
        raise PipelineError(
            "reconciliation failed: "
            + "; ".join(
                f"{f.file}: read {f.read} != kept {f.kept} + set aside {f.set_aside}"
                f" + filtered {f.filtered}"
                for f in unbalanced
            )
        )


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


def write_reject_file(rejects: pa.Table, path: Path) -> Path:
    """The province's set-aside records as a CSV an operator can open: file, line, reason,
    field, branch and the raw record as sent (UTF-8; undecodable bytes as \\xNN escapes).
    """
    import pyarrow.csv as pacsv

    ordered = rejects.select(["file", "line", "reason", "field", "branch", "raw"]).sort_by(
        [("file", "ascending"), ("line", "ascending")]
    )
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(ordered, tmp)
    tmp.replace(path)
    return path


def state_dir(staging: Path, province: str, business_date: str) -> Path:
    """The province's copy of every system's customers and accounts as of a business date.

    Snapshots are immutable and dated: a daily run for D reads D-1's and writes D's, so a
    rerun of D starts again from the same input and a crash leaves the previous one intact.
    """
    return staging / "state" / province / business_date


def write_state(
    staging: Path,
    province: str,
    business_date: str,
    customers: BatchTable,
    accounts: BatchTable,
) -> Path:
    """Write the initial load's state snapshot, atomically, as uncompressed Arrow IPC: the
    form a daily run writes and the next one reads (memory-mapped, no decoding). Written
    part by part, so memory is bounded by a bucket."""
    target = state_dir(staging, province, business_date)
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, table in (("customers", customers), ("accounts", accounts)):
        with (
            pa.OSFile(str(tmp / f"{name}.arrow"), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as arrow,
        ):
            for part in parts_of(table):
                arrow.write_table(part)
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
    source: str | None = None,
) -> list[ProvinceSummary]:
    """Load every requested province (all found in the landing zone by default).

    With the SFTP source (`source="sftp"`, or `source.kind: sftp` in config/pipeline.yaml)
    each province's files are first fetched into `landing`; without named provinces every
    configured province is fetched.
    """
    from load.warehouse import Warehouse

    settings = cfg.settings()
    source = source or settings.source.kind
    ctx = RunContext(
        business_date=business_date,
        mode=mode,
        landing=landing,
        staging=staging or project_path(settings.staging_dir),
        warehouse_url=warehouse_url or default_warehouse_url(),
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
    warehouse = Warehouse(ctx.warehouse_url)
    warehouse.upgrade()  # the schema is the migrations' head, always
    fx_cache: list[pa.Table] = []

    def rates() -> pa.Table:
        if not fx_cache:
            fx_cache.append(stage_fx_rates(ctx))
        return fx_cache[0]

    summaries = []
    for province in wanted:
        fetch = source == "sftp" and (force or not warehouse.is_published(ctx.day, province, mode))
        if fetch:
            from crm_pipeline.fetch import fetch_province

            try:
                fetch_province(business_date, province, mode, landing)
            except PipelineError as exc:
                summaries.append(ProvinceSummary(province, "failed", error=str(exc)))
                continue
        summaries.append(run_province(ctx, province, rates))
    return summaries


def default_warehouse_url() -> str:
    import os

    return os.environ.get("CRM_WAREHOUSE_URL") or cfg.settings().warehouse_url
