"""The ingest step: a province's landed files parsed, typed and staged, one restart point each.

Also the date's FX rates (staged once for every province) and the check that a province's
files are all there and agree with their flags before anything is parsed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from common import config as cfg
from common.errors import FileRejected, PipelineError
from common.jobs import JobLedger
from common.staging import RunStaging, StagingArea, staged_name
from crm_pipeline.crash import crash_point
from crm_pipeline.steps import StepResult
from crm_pipeline.workers import POOL_MIN_BYTES, worker_pool
from extract.flag import read_checker
from extract.landing import LandedFile, ProvinceFiles, fx_file, province_files
from extract.lines import raw_lines
from extract.records import iter_raw_chunks
from transform.conform import StagedFile
from transform.fx import rates_table
from transform.ingest import ingest_file

log = logging.getLogger(__name__)

# The ingest step's record of one file (`ingest_files`' info, kept in its ledger entry).
Ingested = dict[str, Any]

# Files are ingested by this many worker processes at once (both cores of the machine;
# each file is parsed, typed and staged by one worker). CRM_INGEST_WORKERS overrides it.
# Below workers.POOL_MIN_BYTES of input, starting the workers costs more than it saves.
INGEST_WORKERS = 2


def _ingest_workers(files: list[LandedFile]) -> int:
    wanted = int(os.environ.get("CRM_INGEST_WORKERS") or INGEST_WORKERS)
    if sum(f.path.stat().st_size for f in files) < POOL_MIN_BYTES:
        return 1
    return max(1, min(wanted, len(files), os.cpu_count() or 1))


def _ingest_one(landed: LandedFile, staging: RunStaging) -> tuple[int, int, int]:
    """Parse, type and stage one file (in a worker process): its read, kept, set aside."""
    layouts = cfg.layouts()
    layout = layouts.layout_for(landed.system, landed.entity)
    out = staging.parsed(landed.name)
    result = ingest_file(
        iter_raw_chunks(landed.path, layout), landed.path, layout, layouts, out, landed.branch,
        raw_lines, read_checker(landed.name, landed.flag),
    )  # fmt: skip
    pq.write_table(result.rejects, staging.parsed_rejects(landed.name))
    return result.read, result.kept, result.set_aside


def ingest_files(staging: RunStaging, files: list[LandedFile], force: bool) -> StepResult:
    """Parse, type and stage each file. A file already staged (done in the ingest step's
    ledger, outputs intact) is not parsed again, so a crash in the middle of a province
    resumes at the next file.

    The files to parse go to a pool of worker processes, largest first; their results are
    recorded here, in file order, each as soon as it and the files before it are done.
    """
    per_file = JobLedger(staging.jobs, force, staging.store).of("ingest")
    records: list[dict[str, Any]] = []
    outputs = []
    skipped = 0
    todo = [landed for landed in files if per_file.done(landed.name) is None]
    staging.parsed_dir.mkdir(parents=True, exist_ok=True)
    for landed in todo:
        per_file.start(landed.name)
    pool = worker_pool(_ingest_workers(todo))
    futures: dict[str, Any] = {}
    if pool is not None:
        for landed in sorted(todo, key=lambda f: -f.path.stat().st_size):
            futures[landed.name] = pool.submit(_ingest_one, landed, staging)
    try:
        for landed in files:
            done = per_file.done(landed.name)
            if done is None:
                try:
                    if landed.name in futures:
                        read, kept, set_aside = futures[landed.name].result()
                    else:
                        read, kept, set_aside = _ingest_one(landed, staging)
                except Exception as exc:
                    per_file.fail(landed.name, f"{type(exc).__name__}: {exc}")
                    raise
                record = {
                    "file": landed.name,
                    "branch": landed.branch,
                    "system": landed.system,
                    "entity": landed.entity,
                    "path": str(landed.path),
                    "staged": str(staging.parsed(landed.name)),
                    "rejects": str(staging.parsed_rejects(landed.name)),
                    "read": read,
                    "set_aside": set_aside,
                }
                staged = [staging.parsed(landed.name), staging.parsed_rejects(landed.name)]
                done = per_file.complete(landed.name, staged, file=record)
                log.info("%s: read %d, kept %d, set aside %d", landed.name, read, kept, set_aside)
                crash_point(f"ingest:{landed.name}")
            else:
                skipped += 1
            records.append(done["file"])
            outputs += [staging.parsed(landed.name), staging.parsed_rejects(landed.name)]
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


def stage_fx_rates(area: StagingArea, landing: Path, business_date: str, force: bool) -> pa.Table:
    """The date's FX rates, ingested once for every province."""
    landed = fx_file(landing, business_date)
    layouts = cfg.layouts()
    out = area.fx_dir(business_date) / staged_name(landed.name)
    ledger = JobLedger(area.fx_jobs(business_date), force, area.store)
    staged = ledger.done("fx")
    if staged is None or staged.get("flag") != landed.flag.text():  # none, or re-sent
        ledger.start("fx")
        layout = layouts.layouts["FXR_RATE"]
        result = ingest_file(
            iter_raw_chunks(landed.path, layout), landed.path, layout, layouts, out, "",
            raw_lines, read_checker(landed.name, landed.flag),
        )  # fmt: skip
        if result.set_aside:
            reasons = "; ".join(
                f"line {r['line']}: {r['reason']}" for r in result.rejects.to_pylist()
            )
            ledger.fail("fx", f"bad FX rate records: {reasons}")
            raise FileRejected(landed.name, f"bad FX rate records: {reasons}")
        ledger.complete("fx", [out], flag=landed.flag.text())
    return rates_table(pq.read_table(out))


def landed_files(landing: Path, business_date: str, province: str, mode: str) -> ProvinceFiles:
    """The province's files of the date and mode, all present and agreeing with their flags."""
    found = province_files(landing, business_date, province, mode, cfg.provinces())
    if not found.branches:
        raise PipelineError(f"no branch folder of {province} for {business_date}")
    if found.problems:
        raise PipelineError("not published: " + "; ".join(str(p) for p in found.problems))
    return found


def staged_files(ingested: list[Ingested], role: str) -> list[StagedFile]:
    """The staged files whose layout has `role` (customer, account, txn), in file order:
    the later steps' view of what the ingest step recorded."""
    layouts = cfg.layouts()
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


def data_files(ingested: list[Ingested]) -> list[StagedFile]:
    """Every staged data file (customers, accounts, transactions), in file order."""
    return [f for role in ("customer", "account", "txn") for f in staged_files(ingested, role)]
