"""Benchmark: a daily run with about 1% of accounts changed vs the initial load, same run.

    .venv/bin/python bench/daily_vs_initial.py [--customers 60000] [--change-rate 0.01]
                                               [--warehouse URL] [--rates-move]
                                               [--profile FILE] [--days N]

Generates one province (ZJ, no city branch) with `--customers` customers at D0, and one
daily date D1 after it in which `--change-rate` of each system's open accounts change
balance (plus the generator's fixed handful of new, closed, deleted and bad records, and
half that share of customers with a contact update); FX rates do not move, so what is
measured is the cost of the changes, not of a bank-wide revaluation, unless `--rates-move`
(then one currency's rate moves on D1, as on the sample's day 3). Then it times the
initial load of D0 and the daily run of D1 into the same warehouse (SQLite in the
temporary folder by default), each in its own run of `run_date`, and prints both times,
the ratio and the target (daily <= 1/20 of initial, issue 21). `--profile FILE` writes a
cProfile of the daily run (`python -m pstats FILE`); `--days N` runs D2..DN after it
(each over the layers of the days before) and prints their times. Record the figures in
docs/performance.md ("Daily vs initial").
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_pipeline.run import run_date  # noqa: E402
from crm_pipeline.sample import write_sample  # noqa: E402
from crm_pipeline.sample.daily import write_daily  # noqa: E402

D0 = date(2026, 11, 24)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--change-rate", type=float, default=0.01)
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: SQLite in the temp dir)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rates-move", action="store_true", help="one rate moves on D1")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the daily run")
    parser.add_argument("--days", type=int, default=1, help="daily dates run one after another")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_daily_") as tmp:
        root = Path(tmp)
        landing, staging = root / "landing", root / "staging"
        url = args.warehouse or f"sqlite:///{root / 'warehouse.db'}"
        started = time.perf_counter()
        write_sample(landing, D0, ["ZJ"], args.customers, args.seed)
        manifest_path, *later = write_daily(
            landing,
            D0,
            args.days,
            seed=args.seed,
            change_rate=args.change_rate,
            rate_move_days=(1,) if args.rates_move else (),
        )
        generated = time.perf_counter() - started
        initial_manifest = json.loads((landing / "20261124" / "sample_manifest.json").read_text())
        accounts = sum(
            f["records"]
            for f in initial_manifest["files"]
            if f["layout"].endswith(("ACCT", "HOLD"))
        )
        daily = json.loads(manifest_path.read_text())
        changed = sum(
            f["records"] for f in daily["files"] if f["layout"].endswith(("ACCTCHG", "HOLDCHG"))
        )

        started = time.perf_counter()
        [initial] = run_date("20261124", "initial", landing, ["ZJ"], url, staging)
        initial_s = time.perf_counter() - started
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        [day] = run_date("20261125", "daily", landing, ["ZJ"], url, staging)
        daily_s = time.perf_counter() - started
        if profile is not None:
            profile.disable()
            profile.dump_stats(str(args.profile))
        later_s = []
        for index in range(2, args.days + 1):
            started = time.perf_counter()
            [more] = run_date((D0 + timedelta(days=index)).strftime("%Y%m%d"), "daily", landing,
                              ["ZJ"], url, staging)  # fmt: skip
            later_s.append((index, time.perf_counter() - started, more.status))
        if initial.status != "published" or day.status != "published":
            print(
                f"failed: initial {initial.status} {initial.error}; daily {day.status} {day.error}"
            )
            return 1
        print(f"generated in {generated:.1f} s")
        print(
            f"initial load  ZJ {D0:%Y%m%d}: {initial_s:8.2f} s  "
            f"({accounts} account records, {initial.merged_customers} merged customers)"
        )
        print(
            f"daily run     ZJ 20261125: {daily_s:8.2f} s  "
            f"({changed} account change lines = {changed / accounts:.2%} of accounts, "
            f"{day.merged_customers} customers re-scored)"
        )
        for index, seconds, status in later_s:
            print(
                f"daily run     ZJ day {index} (over {index - 1} layer(s)): {seconds:8.2f} s {status}"
            )
        ratio = daily_s / initial_s
        verdict = "met" if ratio <= 0.05 else "NOT met"
        print(f"daily / initial = {ratio:.3f} (1/{1 / ratio:.1f}); target <= 0.050: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
