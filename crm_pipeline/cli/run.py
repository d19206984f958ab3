"""`crm-pipeline run`: a business date's load from a landing folder into the warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from common import settings
from crm_pipeline.cli.logs import log_file
from crm_pipeline.cli.options import add_province_option, exit_status, provinces_of
from crm_pipeline.context import ProvinceSummary
from crm_pipeline.run import run_date


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="load a business date into the warehouse")
    parser.add_argument("--date", required=True, help="business date YYYYMMDD")
    parser.add_argument("--mode", choices=["initial", "daily"], default="initial")
    parser.add_argument(
        "--landing",
        type=Path,
        help="landing folder laid out like the SFTP server's /outbound"
        " (default: CRM_LANDING_DIR, else config/pipeline.yaml)",
    )
    add_province_option(parser, "every province found")
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL or config)")
    parser.add_argument(
        "--staging",
        help="staging area: a folder or s3://bucket/prefix (default: CRM_STAGING_DIR, else config)",
    )
    parser.add_argument(
        "--source",
        choices=["local", "sftp"],
        default=None,
        help="where the dumps come from (default: config/pipeline.yaml source.kind)",
    )
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--restart",
        action="store_true",
        help="continue an interrupted run: finished steps and committed chunks are not redone"
        " (a plain rerun does the same; the flag says it explicitly)",
    )
    again.add_argument(
        "--force", action="store_true", help="redo a published date from the start, cleanly"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    landing = settings.landing_dir(args.landing)
    provinces = provinces_of(args)
    summaries = run_date(
        args.date,
        args.mode,
        landing,
        provinces or None,
        args.warehouse,
        args.staging,
        source=args.source,
        force=args.force,
    )
    print(format_summary(args.date, args.mode, summaries))
    if not summaries:
        print(f"no province found in {landing}/{args.date}")
        return 1
    print(f"details: {log_file()}")
    return exit_status(summaries)


def format_summary(business_date: str, mode: str, summaries: list[ProvinceSummary]) -> str:
    header = (
        f"{'province':<8} {'status':<18} {'files':>5} {'read':>9} {'kept':>9} {'set aside':>9} "
        f"{'filtered':>8} {'flagged':>7} {'src cust':>8} {'merged':>8} {'qualified':>9}"
    )
    lines = [f"business date {business_date}, {mode} load", header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.province:<8} {s.status:<18} {len(s.files):>5} {s.total('read'):>9} "
            f"{s.total('kept'):>9} {s.total('set_aside'):>9} {s.total('filtered'):>8} "
            f"{s.total('flagged'):>7} {s.source_customers:>8} {s.merged_customers:>8} "
            f"{s.qualified:>9}"
        )
    for s in summaries:
        if s.error:
            lines.append(f"{s.province}: {s.error}")
        lines.extend(f"{s.province}: {note}" for note in s.notes)
    return "\n".join(lines)
