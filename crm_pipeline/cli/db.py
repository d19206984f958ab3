"""`crm-pipeline db upgrade [--warehouse URL]`: create or upgrade the warehouse schema.

The schema is only ever changed by the Alembic migrations shipped in `load/migrations`, so
an existing warehouse (with years of CRM history) is upgraded in place, never recreated.
"""

from __future__ import annotations

import argparse

from common import settings
from load.warehouse import Warehouse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="manage the warehouse schema", description=__doc__)
    actions = parser.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply the migrations up to the newest")
    upgrade.add_argument(
        "--warehouse",
        metavar="URL",
        help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL, else config/pipeline.yaml)",
    )
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser("current", help="print the schema's revision")
    current.add_argument(
        "--warehouse",
        metavar="URL",
        help="SQLAlchemy URL (default: CRM_WAREHOUSE_URL, else config/pipeline.yaml)",
    )
    current.set_defaults(handler=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    warehouse = Warehouse(settings.warehouse_url(args.warehouse))
    try:
        before = warehouse.revision()
        warehouse.upgrade(args.revision)
        after = warehouse.revision()
    finally:
        warehouse.dispose()
    if before == after:
        print(f"{warehouse!r}: schema already at revision {after}")
    else:
        print(f"{warehouse!r}: schema upgraded from {before or 'empty'} to {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    warehouse = Warehouse(settings.warehouse_url(args.warehouse))
    try:
        current, head = warehouse.revision(), warehouse.head()
    finally:
        warehouse.dispose()
    state = "up to date" if current == head else f"behind head {head}: run `db upgrade`"
    print(f"{warehouse!r}: revision {current or 'none'} ({state})")
    return 0
