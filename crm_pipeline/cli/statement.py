"""`crm-pipeline statement`: the month's consolidated statements, then the details' purge."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crm_pipeline.cli.options import add_province_option, exit_status, provinces_of
from crm_pipeline.statement import StatementSummary, produce_statements


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "statement",
        help="produce a month's consolidated statements and purge its transaction details",
        description=__doc__,
    )
    parser.add_argument("--month", required=True, help="statement month YYYY-MM")
    add_province_option(parser, "every province published in the month")
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL or config)")
    parser.add_argument(
        "--staging",
        help="staging folder or s3://bucket/prefix holding the state snapshots"
        " (default: CRM_STAGING_DIR or config)",
    )
    parser.add_argument(
        "--out", type=Path, help="folder of the printer's files (default var/statements)"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    provinces = provinces_of(args)
    summaries = produce_statements(
        args.month, provinces or None, args.warehouse, args.staging, args.out
    )
    print(format_summary(args.month, summaries))
    if not summaries:
        print(f"no province published in {args.month}")
        return 1
    return exit_status(summaries)


def format_summary(month: str, summaries: list[StatementSummary]) -> str:
    header = (
        f"{'province':<8} {'status':<17} {'customers':>9} {'accounts':>8} "
        f"{'txns':>7} {'purged':>7}  file"
    )
    lines = [f"statement {month}", header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.province:<8} {s.status:<17} {s.customers:>9} {s.accounts:>8} "
            f"{s.transactions:>7} {s.purged:>7}  {s.file or ''}"
        )
    for s in summaries:
        if s.error:
            lines.append(s.error)
    return "\n".join(lines)
