"""`crm-pipeline export`: a published batch's CRM tables as files (docs/export.md), and with
`--push` onto the CRM data server over SFTP."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from common import config, settings
from common.dates import business_day
from common.errors import PipelineError
from crm_pipeline.export import ExportResult, export_batch, push_export
from extract.sftp.push import PushedFile


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a published batch's CRM tables as files (and push them to the CRM server)",
        description=__doc__,
    )
    parser.add_argument("--date", required=True, help="business date YYYYMMDD")
    parser.add_argument("--province", required=True, help="province code, e.g. ZJ")
    parser.add_argument(
        "--mode",
        choices=["initial", "daily"],
        help="the batch's mode (default: the date's published batch, whichever mode)",
    )
    parser.add_argument(
        "--to",
        type=Path,
        help="folder of the files, written under {D}/{P}/ (default: CRM_EXPORT_DIR, else "
        "config/pipeline.yaml export.dir)",
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="then push them to the CRM data server (config/pipeline.yaml export.sftp; "
        "credentials from CRM_EXPORT_SFTP_*)",
    )
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL or config)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    day = business_day(args.date)
    province = args.province.strip().upper()
    if province not in config.provinces().provinces:
        raise PipelineError(f"province {province!r} is not in config/provinces.yaml")
    result = export_batch(
        day, province, settings.export_dir(args.to), mode=args.mode, warehouse_url=args.warehouse
    )
    print(format_export(result))
    if args.push:
        print(format_push(push_export(result)))
    return 0


def format_export(result: ExportResult) -> str:
    batch = result.batch
    header = f"{'file':<34} {'records':>9} {'bytes':>12} {'control sum':>20}"
    lines = [
        f"export {result.day} {batch.province} {batch.mode}: batch {batch.batch_id} -> "
        f"{result.folder}",
        header,
        "-" * len(header),
    ]
    for file in result.files:
        flag = file.flag
        lines.append(f"{file.path.name:<34} {flag.records:>9} {flag.size:>12} "
                     f"{flag.control_sum!s:>20}")  # fmt: skip
    return "\n".join(lines)


def format_push(pushed: list[PushedFile]) -> str:
    lines = []
    for file in pushed:
        notes = [n for n, on in (("replaced", file.replaced), ("SHA-256 verified",
                 file.checksum_verified)) if on]  # fmt: skip
        if file.resumed_from:
            notes.append(f"resumed at byte {file.resumed_from}")
        lines.append(f"pushed {file.remote_path}" + (f" ({', '.join(notes)})" if notes else ""))
    return "\n".join(lines)
