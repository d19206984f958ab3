"""Benchmark: one province's initial load at bank scale, end to end into PostgreSQL.

    .venv/bin/python bench/initial_load.py --accounts 10000000 [--seed 7] [--work var/bench]
                                           [--no-quality: without the quality gate]

1. Generates province ZJ and its city branch NB with the sample generator
   (`crm_pipeline.sample.write_sample`; every system with the spec's share of customers)
   sized so that the four systems send about --accounts account records in all. The dump
   is kept under --work and reused by later runs of the same size and seed.
2. Starts a throwaway PostgreSQL (as tests/servers/postgres.py does, fsync on) unless
   --warehouse-url names one, and runs the initial load end to end (`crm_pipeline.run.run_date`,
   exactly as `crm-pipeline run --mode initial` does) in a child process. The steps are
   timed by wrapping the functions the run calls (ingest, conform, merge, score, state,
   warehouse write) with `time.perf_counter`; nothing in the pipeline is changed for it.
3. In the same run, the two references, each in its own child process:
   the floor (read every byte of the same files; parse the delimited ones with
   pyarrow.csv, no other work) and the peer (bench/duckdb_peer.py: DuckDB doing the same
   parse, merge and score in SQL).

Prints per step: wall time, records/s and MB/s of the step's input files, and peak RSS.
"peak RSS so far" is the pipeline process's ru_maxrss when the step ends (steps run in
order, so it is the peak up to then); "tree" is the peak of the sum of the RSS of the
pipeline process and its worker processes, sampled every 50 ms from /proc; the
"ru_maxrss" line is os.wait4's rusage of the child (max over the child and the workers
it waited for, i.e. RUSAGE_CHILDREN of a parent with this one child).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

from bench.support.dump import (  # noqa: E402
    DAY,
    PROVINCE,
    D,
    customers_for,
    generate_child,
    input_files,
    landing_dir,
)
from bench.support.floor import floor_child  # noqa: E402
from bench.support.load_report import fill_report  # noqa: E402
from bench.support.postgres import warehouse  # noqa: E402
from bench.support.processes import (  # noqa: E402
    MAX_RSS_GIB,
    Child,
    child_main,
    rss_mib,
    run_child,
)
from bench.support.table import Report, mb  # noqa: E402
from bench.support.timing import Label, wrap  # noqa: E402

# --- what is timed: the one table to update when the pipeline's functions move ----------
# The entry point the pipeline child calls (exactly as `crm-pipeline run --mode initial`).
RUN_DATE = ("crm_pipeline.run", "run_date")
# (module, function or Class.method, row label, input role, beside): the module is the one
# whose global the caller looks the function up in. A label of None names the row after
# the step (the call's argument after self: ProvinceSteps.run(name, body)), by STEP_NAMES;
# role "-": no input files; beside: ran while another step did (not on the critical path).
TIMED: tuple[tuple[str, str, str | None, str | None, bool], ...] = (
    ("load.warehouse", "Warehouse.upgrade", "warehouse schema (alembic)", "-", False),
    ("crm_pipeline.run", "stage_fx_rates", "FX rates", "-", False),
    ("crm_pipeline.steps", "ProvinceSteps.run", None, None, False),
    ("crm_pipeline.initial", "write_state", "state snapshot (beside the load)", "-", True),
)
# The initial load's steps (crm_pipeline.initial.InitialLoad.run), and whose files are their input.
STEP_NAMES = {
    "ingest": "ingest: parse, type, stage (all files)",
    "conform": "conform: customers + ids, accounts + FX",
    "merge": "merge customers",
    "score": "score (join keys, formulas)",
    "quality_gate": "quality gate (metrics, GX, Data Docs)",
    "state": "state snapshot (Arrow IPC)",
    "load": "warehouse load (COPY, publish)",
}
STEP_ROLES: dict[str, str | None] = {"merge": "customer", "score": "account"}


def _label(label: str | None, role: str | None, beside: bool) -> Label:
    """The row of one call: fixed, or named after the step the call runs."""
    if label is None:
        return lambda a: (str(STEP_NAMES.get(a[1], a[1])), STEP_ROLES.get(a[1]), beside)
    fixed: str = label
    return lambda a: (fixed, role, beside)


# --- the children -------------------------------------------------------------------------


def _pipeline_child(args: dict[str, Any]) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    steps: list[dict[str, Any]] = []

    def record(step: str, role: str | None, seconds: float, beside: bool) -> None:
        steps.append(
            {
                "step": step,
                "role": role,
                "seconds": seconds,
                "beside": beside,
                "rss_self": rss_mib(resource.RUSAGE_SELF),
                "rss_children": rss_mib(resource.RUSAGE_CHILDREN),
            }
        )
        # progress on stderr, so that a run killed midway still shows where time went
        print(f"[pipeline] {step}: {seconds:.2f} s", file=sys.stderr, flush=True)

    for module, name, label, role, beside in TIMED:
        wrap(module, name, _label(label, role, beside), record)
    if not args.get("quality", True):
        _without_gate()
    run_date = getattr(importlib.import_module(RUN_DATE[0]), RUN_DATE[1])
    started = time.perf_counter()
    summaries = run_date(
        D,
        "initial",
        Path(args["landing"]),
        [PROVINCE],
        warehouse_url=args["warehouse_url"],
        staging=Path(args["staging"]),
        force=True,
    )
    total = time.perf_counter() - started
    s = summaries[0]
    return {
        "seconds": total,
        "steps": steps,
        "status": s.status,
        "error": s.error,
        "read": s.total("read"),
        "kept": s.total("kept"),
        "set_aside": s.total("set_aside"),
        "filtered": s.total("filtered"),
        "source_customers": s.source_customers,
        "merged": s.merged_customers,
        "qualified": s.qualified,
        "rss_self": rss_mib(resource.RUSAGE_SELF),
        "rss_children": rss_mib(resource.RUSAGE_CHILDREN),
    }


def _without_gate() -> None:
    """--no-quality: the run as it was before the gate (issue 17), to measure what the gate
    costs: no quality_gate step, no Great Expectations import on the background thread.
    Only the two names the initial load looks up are replaced, in this child."""
    initial = importlib.import_module("crm_pipeline.initial")
    initial.quality_gate = lambda *args, **kwargs: []  # type: ignore[attr-defined]
    initial.preload_validation = lambda: None  # type: ignore[attr-defined]


def _peer_child(args: dict[str, Any]) -> dict[str, Any]:
    from bench.duckdb_peer import run_peer
    from common.paths import formulas_dir
    from transform.scoring import load_formulas

    formulas = load_formulas(formulas_dir()).for_province(PROVINCE, DAY)
    inputs = input_files(Path(args["landing"]))
    with tempfile.TemporaryDirectory(dir=args["work"]) as tmp:
        result = run_peer(
            inputs.files,
            inputs.fx,
            str(formulas.export_filter),
            {t: str(v) for t, v in formulas.thresholds.items()},
            str(formulas.resolved.parameters.get("fund_coef", 2)),
            threads=int(args.get("threads", 2)),
            temp_dir=Path(tmp),
        )
    return {
        "seconds": result.seconds,
        "steps": result.steps,
        "customers": result.customers,
        "accounts": result.accounts,
        "merged": result.merged,
        "qualified": result.qualified,
    }


CHILDREN: dict[str, Child] = {
    "generate": generate_child,
    "pipeline": _pipeline_child,
    "floor": floor_child,
    "peer": _peer_child,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--warehouse-url", help="use this warehouse instead of a new PostgreSQL")
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--no-quality",
        dest="quality",
        action="store_false",
        help="run without the quality gate (to measure its cost)",
    )
    parser.add_argument(
        "--max-rss-gib",
        type=float,
        default=MAX_RSS_GIB,
        help="kill a part whose processes hold more than this (default %(default)s)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)

    if opts.child:
        return child_main(CHILDREN, opts.child, opts.child_args)

    work: Path = opts.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    landing = landing_dir(work, opts.accounts, opts.seed)
    generated: float | None = None
    if not (landing / "READY").exists():
        shutil.rmtree(landing, ignore_errors=True)
        run = run_child(
            SCRIPT,
            "generate",
            {"out": str(landing), "customers": customers_for(opts.accounts), "seed": opts.seed},
        )
        generated = run.result["seconds"]
        (landing / "READY").write_text(json.dumps({"seconds": generated}) + "\n")
    inputs = input_files(landing)
    all_bytes = inputs.size()
    cust_recs, acct_recs = inputs.records("customer"), inputs.records("account")

    staging = work / f"staging-{opts.accounts}-s{opts.seed}"
    shutil.rmtree(staging, ignore_errors=True)  # several GB a run: never left behind
    try:
        with warehouse(opts.warehouse_url, fsync=not opts.no_fsync) as url:
            pipe = run_child(
                SCRIPT,
                "pipeline",
                {
                    "landing": str(landing),
                    "warehouse_url": url,
                    "staging": str(staging),
                    "quality": opts.quality,
                },
                opts.max_rss_gib,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    floor = None if opts.skip_floor else run_child(SCRIPT, "floor", {"landing": str(landing)})
    peer = (
        None
        if opts.skip_peer
        else run_child(SCRIPT, "peer", {"landing": str(landing), "work": str(work), "threads": 2})
    )

    p = pipe.result
    if p["status"] != "published":
        print(f"pipeline did not publish: {p['status']} {p['error']}", file=sys.stderr)
    report = Report(
        [
            f"Initial load at scale: {PROVINCE} + city NB, seed {opts.seed}, "
            f"--accounts {opts.accounts:,}" + ("" if opts.quality else ", --no-quality"),
            f"input: {acct_recs:,} account records, {cust_recs:,} customer records, "
            f"{mb(all_bytes):,.0f} MB in {len(inputs.files)} files"
            + (f" (generated in {generated:,.0f} s)" if generated is not None else " (reused)"),
            f"machine: {os.cpu_count()} cores, load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg())
            + f" at the end; warehouse {opts.warehouse_url or 'PostgreSQL (throwaway)'}",
        ]
    )
    floor_s = fill_report(report, inputs, pipe, floor, peer)
    print(report.render(), flush=True)
    if opts.json:
        opts.json.write_text(
            json.dumps(
                {
                    "accounts_arg": opts.accounts,
                    "account_records": acct_recs,
                    "customer_records": cust_recs,
                    "input_bytes": all_bytes,
                    "pipeline": {**p, "maxrss_mib": pipe.maxrss_mib, "tree": pipe.tree_peak_mib},
                    "floor": floor.result if floor else None,
                    "floor_seconds": floor_s,
                    "peer": {**peer.result, "maxrss_mib": peer.maxrss_mib} if peer else None,
                },
                indent=1,
            )
        )
    return 0 if p["status"] == "published" else 1


if __name__ == "__main__":
    sys.exit(main())
