"""`crm-pipeline sample`: write synthetic core-system dumps for demos, tests and benchmarks."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crm_pipeline.sample import DEFAULT_BRANCHES, write_sample

log = logging.getLogger(__name__)


def yyyymmdd(text: str) -> date:
    """A YYYYMMDD argument as a date (`sample` and `sample-daily` take the same)."""
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYYMMDD date: {text!r}") from exc


def _branches(text: str) -> list[str]:
    codes = [c.strip().upper() for c in text.split(",") if c.strip()]
    if not codes or any(not (c.isascii() and c.isalpha() and len(c) == 2) for c in codes):
        raise argparse.ArgumentTypeError(f"expected two-letter branch codes like ZJ,NB: {text!r}")
    return codes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="write synthetic core dumps (initial load) with a manifest of injected faults",
        description=__doc__,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder playing /outbound")
    parser.add_argument("--date", type=yyyymmdd, required=True, help="business date YYYYMMDD")
    parser.add_argument(
        "--branches",
        type=_branches,
        default=list(DEFAULT_BRANCHES),
        help="comma-separated branch codes (default ZJ,NB,GD,SZ)",
    )
    parser.add_argument("--customers", type=int, default=1000, help="customers per branch")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.customers < 0:
        log.error("--customers must be zero or more")
        return 1
    started = time.perf_counter()
    manifest = write_sample(args.out, args.date, args.branches, args.customers, args.seed)
    log.info("sample written in %.1fs; manifest %s", time.perf_counter() - started, manifest)
    print(manifest)
    return 0
