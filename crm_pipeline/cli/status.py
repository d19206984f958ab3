"""`crm-pipeline status --date D [--province P] [--warehouse URL]`: what happened on a date.

Shows the runs of the business date (one per attempt), their steps with the counts they
recorded and how far their checkpoints got, and the load batches with their publication
status and the quality gate's verdicts (with their Data Docs): what an operator looks at
before deciding on `run --restart`, `--force` or `quality accept`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime

from common.dates import business_day
from crm_pipeline.cli.options import migrated_warehouse
from crm_pipeline.cli.quality import render as render_quality
from load import quality, report
from load.lease import run_state

_COUNTS = ("read", "kept", "set_aside", "filtered", "written")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status", help="runs, steps, counts and checkpoints of a date", description=__doc__
    )
    parser.add_argument("--date", required=True, help="business date, YYYYMMDD")
    parser.add_argument("--province", help="only this province")
    parser.add_argument(
        "--warehouse",
        metavar="URL",
        help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL, else config/pipeline.yaml)",
    )
    parser.set_defaults(handler=run)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _duration(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "-"
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "") -> str:
    """A plain-text table: numbers right-aligned, everything else left-aligned."""
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(r[i].replace(",", "").isdigit() or r[i] == "-" for r in cells)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def render(
    runs: list[report.RunReport],
    batches: list[report.BatchReport],
    states: dict[int, str] | None = None,
) -> str:
    """The date's runs, steps and batches; `states`: each run's state as read now (a run
    recorded as started whose process is gone shows as died)."""
    states = states or {}
    out: list[str] = []
    if not runs and not batches:
        return "nothing recorded for this date"
    out.append("Runs")
    out.append(
        table(
            ["run", "province", "mode", "state", "started", "ended", "host"],
            [
                [
                    r.run_id,
                    r.province,
                    r.mode,
                    states.get(r.run_id, r.state),
                    _time(r.started_at),
                    _time(r.ended_at),
                    r.host,
                ]
                for r in runs
            ],
        )  # fmt: skip
        if runs
        else "  (none)"
    )
    for run in runs:
        if run.warnings:
            out.append("")
            out.append(f"Run {run.run_id} ({run.province} {run.mode}): warnings")
            out.extend(f"  {warning}" for warning in run.warnings)
        out.append("")
        out.append(f"Run {run.run_id} ({run.province} {run.mode}): steps")
        if not run.steps:
            out.append("  (no steps)")
            continue
        out.append(
            table(
                ["step", "state", *_COUNTS, "time", "error"],
                [
                    [
                        step.name,
                        step.state,
                        *(step.counts.get(c) for c in _COUNTS),
                        _duration(step.started_at, step.ended_at),
                        (step.error or "").splitlines()[0][:60] if step.error else None,
                    ]
                    for step, _ in run.steps
                ],
                indent="  ",
            )  # fmt: skip
        )
        for step, progress in run.steps:
            for p in progress:
                out.append(
                    f"    {step.name}: {p.stream or '(main)'} checkpoint chunk {p.last_chunk}"
                    f" at {p.position} ({p.chunks} committed, last {_time(p.committed_at)})"
                )
    out.append("")
    out.append("Load batches (the CRM imports only `published`)")
    out.append(
        table(
            [
                "batch",
                "province",
                "mode",
                "status",
                "published",
                "customers",
                "qualified",
                "accounts",
                "rejects",
            ],
            [
                [
                    b.batch_id,
                    b.province,
                    b.mode,
                    b.status,
                    _time(b.published_at),
                    b.customers,
                    b.qualified,
                    b.accounts,
                    b.rejects,
                ]
                for b in batches
            ],
        )  # fmt: skip
        if batches
        else "  (none)"
    )
    for batch in batches:
        if batch.status != "published":
            for p in batch.staging:
                out.append(
                    f"    batch {batch.batch_id}: {p.stream} chunk {p.last_chunk} at {p.position}"
                    f" ({_time(p.committed_at)})"
                )
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    business_date = business_day(args.date, "--date")
    with migrated_warehouse(args.warehouse) as warehouse:
        runs = report.runs(warehouse.engine, business_date, args.province)
        states = {r.run_id: run_state(warehouse.engine, r.run_id) for r in runs}
        text = render(runs, report.batches(warehouse.engine, business_date, args.province), states)
        gate = quality.results(warehouse.engine, business_date, args.province, latest=True)
        if gate:
            text += "\n\nQuality gate (crm-pipeline quality --date D --province P)\n"
            text += render_quality(gate)
    print(
        f"Status of {business_date.isoformat()}" + (f", {args.province}" if args.province else "")
    )
    print(text)
    return 0
