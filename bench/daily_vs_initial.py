"""Benchmark: a daily run with about 1% of accounts changed vs the initial load, same run.

    .venv/bin/python bench/daily_vs_initial.py [--customers 60000] [--change-rate 0.01]
                                               [--warehouse URL | --postgres]
                                               [--pg-shared-buffers SIZE] [--rates-move]
                                               [--profile FILE] [--days N]
                                               [--keep DIR]

Generates one province (ZJ, no city branch) with `--customers` customers at D0, and one
daily date D1 after it in which `--change-rate` of each system's open accounts change
balance (plus the generator's fixed handful of new, closed, deleted and bad records, and
half that share of customers with a contact update); FX rates do not move, so what is
measured is the cost of the changes, not of a bank-wide revaluation, unless `--rates-move`
(then one currency's rate moves on D1, as on the sample's day 3). Then it times the
initial load of D0 and the daily run of D1 into the same warehouse (SQLite in the
temporary folder by default; `--postgres` starts a throwaway PostgreSQL server with fsync
on, as the tests' fixture does, with PostgreSQL's default 128MB of shared buffers unless
`--pg-shared-buffers`), each in its own run of `run_date`, and prints both times,
the ratio and the target (daily <= 1/20 of initial, issue 21), and the daily run's memory
(anonymous and memory-mapped resident memory, sampled). `--profile FILE` writes a cProfile
of the daily run (`python -m pstats FILE`); `--days N` runs D2..DN after it (each over the
layers of the days before) and prints their times. Record the figures in
docs/performance.md ("Daily vs initial").

`--keep DIR` works in DIR instead of a temporary folder and keeps it: the dumps are reused
by any later run with the same sample arguments (SQLite or PostgreSQL), and on SQLite a
copy of the warehouse as the initial load left it is kept too: the next runs restore it,
drop the daily dates' staging and state, and time the daily runs only (the initial time
printed is the first run's). On PostgreSQL the initial load is run again each time, into
a new database.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import logging
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_pipeline.run import run_date  # noqa: E402
from crm_pipeline.sample import write_sample  # noqa: E402
from crm_pipeline.sample.daily import write_daily  # noqa: E402

D0 = date(2026, 11, 24)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--change-rate", type=float, default=0.01)
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: SQLite in the temp dir)")
    parser.add_argument(
        "--postgres", action="store_true", help="a throwaway PostgreSQL server (fsync on)"
    )
    parser.add_argument(
        "--pg-shared-buffers", metavar="SIZE", help="with --postgres: its shared_buffers (4GB)"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rates-move", action="store_true", help="one rate moves on D1")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the daily run")
    parser.add_argument("--days", type=int, default=1, help="daily dates run one after another")
    parser.add_argument("--keep", type=Path, help="work in DIR, reuse its dumps and initial load")
    parser.add_argument(
        "--sql-times",
        type=float,
        metavar="S",
        help="print the daily run's statements of S s or more",
    )
    args = parser.parse_args(argv)
    if args.postgres and args.warehouse:
        parser.error("--postgres starts its own server: no --warehouse with it")
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM unwinds like Ctrl-C, so the server is stopped on the way out.
    before = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = _postgres(args.pg_shared_buffers) if args.postgres else None
    try:
        with tempfile.TemporaryDirectory(prefix="bench_daily_") as tmp:
            return _bench(args, args.keep or Path(tmp), server)
    finally:
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, before)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _postgres(shared_buffers: str | None = None) -> Any:
    from tests.servers.postgres import PostgresServer

    server = PostgresServer(fsync=True, shared_buffers=shared_buffers)
    server.start()
    return server


def _bench(args: argparse.Namespace, root: Path, server: Any) -> int:
    # PostgreSQL's state apart: a kept SQLite initial load keeps its own.
    landing, staging = root / "landing", root / ("staging-pg" if server is not None else "staging")
    dumps = {
        k: getattr(args, k) for k in ("customers", "change_rate", "seed", "rates_move", "days")
    }
    generated_with = root / "landing.json"
    if args.keep and generated_with.is_file() and json.loads(generated_with.read_text()) == dumps:
        generated, accounts, changed = 0.0, *_counts(landing)
    else:
        if args.keep and root.exists():  # another size or seed: start over
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        generated, accounts, changed = _generate(landing, args)
        generated_with.write_text(json.dumps(dumps))
    kept_sqlite = args.keep is not None and server is None and args.warehouse is None
    saved = root / "initial.json"
    if kept_sqlite and saved.is_file() and json.loads(saved.read_text())["args"] == dumps:
        url = f"sqlite:///{root / 'warehouse.db'}"
        initial_s, merged = _restore(root, staging, saved)
        # What the initial load imported in this process before the daily run when both
        # run (the quality gate's Great Expectations): not the daily's to pay.
        importlib.import_module("crm_pipeline.quality.validation")
    else:
        shutil.rmtree(staging, ignore_errors=True)
        if server is None and args.warehouse is None:
            (root / "warehouse.db").unlink(missing_ok=True)
        url = args.warehouse or (
            server.url(server.create_database()) if server is not None
            else f"sqlite:///{root / 'warehouse.db'}"
        )  # fmt: skip
        started = time.perf_counter()
        [initial] = run_date("20261124", "initial", landing, ["ZJ"], url, staging)
        initial_s = time.perf_counter() - started
        if initial.status != "published":
            print(f"failed: initial {initial.status} {initial.error}")
            return 1
        merged = initial.merged_customers
        if kept_sqlite:
            _copy_sqlite(root / "warehouse.db", root / "warehouse.initial.db")
            saved.write_text(json.dumps({"args": dumps, "initial_s": initial_s, "merged": merged}))
    profile = cProfile.Profile() if args.profile else None
    memory = _MemoryPeak()
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    with memory, _SlowStatements(args.sql_times) as slow:
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
    if day.status != "published":
        print(f"failed: daily {day.status} {day.error}")
        return 1
    where = "PostgreSQL (fsync on)" if server is not None else url.split(":", 1)[0]
    print(f"warehouse: {where}; generated in {generated:.1f} s")
    print(
        f"initial load  ZJ {D0:%Y%m%d}: {initial_s:8.2f} s  "
        f"({accounts} account records, {merged} merged customers)"
    )
    print(
        f"daily run     ZJ 20261125: {daily_s:8.2f} s  "
        f"({changed} account change lines = {changed / accounts:.2%} of accounts, "
        f"{day.merged_customers} customers re-scored)"
    )
    print(
        f"daily run memory: anonymous {memory.start_anon} -> peak {memory.peak_anon} MiB,"
        f" mapped files peak {memory.peak_file} MiB (sampled every 20 ms)"
    )
    for seconds, statement in slow.found:
        print(f"sql {seconds:7.2f} s  {statement}")
    for index, seconds, status in later_s:
        print(
            f"daily run     ZJ day {index} (over {index - 1} layer(s)): {seconds:8.2f} s {status}"
        )
    ratio = daily_s / initial_s
    verdict = "met" if ratio <= 0.05 else "NOT met"
    print(f"daily / initial = {ratio:.3f} (1/{1 / ratio:.1f}); target <= 0.050: {verdict}")
    return 0


class _SlowStatements:
    """The SQL statements of at least `threshold` seconds run inside the block (any
    engine), with their time: where a publication's time goes, statement by statement."""

    def __init__(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.found: list[tuple[float, str]] = []

    def _before(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seconds = time.perf_counter() - conn.info["bench_started"].pop()
        if self.threshold is not None and seconds >= self.threshold:
            self.found.append((seconds, " ".join(statement.split())[:160]))

    def __enter__(self) -> _SlowStatements:
        if self.threshold is not None:
            event.listen(Engine, "before_cursor_execute", self._before)
            event.listen(Engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.threshold is not None:
            event.remove(Engine, "before_cursor_execute", self._before)
            event.remove(Engine, "after_cursor_execute", self._after)


class _MemoryPeak:
    """The process's resident memory while the block runs, sampled from /proc/self/status:
    anonymous (what the run allocates) apart from file-backed (the memory-mapped state
    snapshots' pages it touched, which the kernel can drop and reread), in MiB."""

    def __init__(self) -> None:
        self.start_anon = self.peak_anon = self.peak_file = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _now() -> tuple[int, int]:
        fields = dict(
            line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
        )
        return (
            int(fields["RssAnon"].split()[0]) // 1024,
            int(fields["RssFile"].split()[0]) // 1024,
        )

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            anon, mapped = self._now()
            self.peak_anon, self.peak_file = max(self.peak_anon, anon), max(self.peak_file, mapped)

    def __enter__(self) -> _MemoryPeak:
        self.start_anon, self.peak_file = self._now()
        self.peak_anon = self.start_anon
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        anon, mapped = self._now()
        self.peak_anon, self.peak_file = max(self.peak_anon, anon), max(self.peak_file, mapped)


def _generate(landing: Path, args: argparse.Namespace) -> tuple[float, int, int]:
    """Write D0's dumps and the daily dates' change files; seconds, accounts, change lines."""
    started = time.perf_counter()
    write_sample(landing, D0, ["ZJ"], args.customers, args.seed)
    write_daily(
        landing,
        D0,
        args.days,
        seed=args.seed,
        change_rate=args.change_rate,
        rate_move_days=(1,) if args.rates_move else (),
    )
    return time.perf_counter() - started, *_counts(landing)


def _counts(landing: Path) -> tuple[int, int]:
    """The sample's account records at D0 and account change lines at D1."""
    initial_manifest = json.loads((landing / "20261124" / "sample_manifest.json").read_text())
    accounts = sum(
        f["records"] for f in initial_manifest["files"] if f["layout"].endswith(("ACCT", "HOLD"))
    )
    daily = json.loads((landing / "20261125" / "daily_manifest.json").read_text())
    changed = sum(
        f["records"] for f in daily["files"] if f["layout"].endswith(("ACCTCHG", "HOLDCHG"))
    )
    return accounts, changed


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, its write-ahead log included (the backup
    API), over `target` and whatever log `target` had."""
    for stale in (
        target,
        target.with_name(target.name + "-wal"),
        target.with_name(target.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _restore(root: Path, staging: Path, saved: Path) -> tuple[float, int]:
    """Put back the warehouse as the initial load left it and forget the daily dates'
    staging and state; the recorded initial time and merged customers."""
    _copy_sqlite(root / "warehouse.initial.db", root / "warehouse.db")
    for folder in [*staging.glob("2026*"), *(staging / "state" / "ZJ").glob("2026*")]:
        if folder.name != D0.strftime("%Y%m%d"):
            shutil.rmtree(folder)
    record = json.loads(saved.read_text())
    return record["initial_s"], record["merged"]


if __name__ == "__main__":
    sys.exit(main())
