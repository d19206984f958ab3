"""`crm-pipeline sample-daily`: daily change files after an initial sample (issue 7).

Writes business dates D1..Dn after the initial sample of D0 in the same landing folder
(`CUSTCHG`, `ACCTCHG`/`HOLDCHG`, `TXN`, `FXR_RATE`, with flags and a manifest per day),
and, with `--full-out`, the full dumps as of Dn that an initial load would read: the
equivalence test loads both and compares.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from crm_pipeline.cli.sample import yyyymmdd
from crm_pipeline.sample.daily import write_daily

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sample-daily",
        help="write synthetic daily change files after an initial sample",
        description=__doc__,
    )
    parser.add_argument(
        "--landing", type=Path, required=True, help="landing folder holding the initial sample"
    )
    parser.add_argument("--date", type=yyyymmdd, required=True, help="initial date D0 (YYYYMMDD)")
    parser.add_argument("--days", type=int, default=5, help="number of days to write (D1..Dn)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument(
        "--change-rate",
        type=float,
        default=0.05,
        help="share of open accounts whose balance changes each day (default 0.05)",
    )
    parser.add_argument(
        "--rate-move-day",
        type=int,
        action="append",
        default=None,
        help="day number on which one currency's rate moves (repeatable; default 3)",
    )
    parser.add_argument(
        "--full-out", type=Path, help="also write the full dumps as of Dn into this folder"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.days < 1 or not 0 <= args.change_rate <= 1:
        log.error("--days must be 1 or more and --change-rate between 0 and 1")
        return 1
    started = time.perf_counter()
    manifests = write_daily(
        args.landing,
        args.date,
        args.days,
        seed=args.seed,
        change_rate=args.change_rate,
        rate_move_days=args.rate_move_day if args.rate_move_day is not None else (3,),
        full_out=args.full_out,
    )
    log.info("%d days written in %.1fs", len(manifests), time.perf_counter() - started)
    for path in manifests:
        print(path)
    return 0
