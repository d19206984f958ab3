"""Warehouse load throughput: the pipeline's bulk path against PostgreSQL's own COPY.

Starts a throwaway PostgreSQL exactly as the test fixture does (tests/servers/postgres.py,
but with fsync on, as in production), builds one province's batch of --rows CRM account
rows (every customer qualified, --per-customer accounts each), and times, on the same
server in the same run:

- pipeline: `Warehouse.write_batch` end to end, the province's first load: Arrow -> CSV ->
  COPY into the staging tables in committed, checkpointed chunks (the accounts into a
  WAL-logged table of the batch's own), stable-id assignment, keys built on the account
  table, the one publication transaction (customers, sources and contacts copied from
  staging, the account table attached as the province's partition of crm_account), staging
  cleanup;
- staging only: the part of it that COPYs the account rows into their staging table;
- row path: the next date's batch of the same province with every balance changed, which
  the publication applies row by row to the existing partition (UPDATE of every account;
  what every load after a province's first one does, for the rows that changed);
- COPY: `COPY ... FROM 'file'` of the same account rows, already as a CSV file on the
  server's disk, into a table created `LIKE crm_account INCLUDING ALL` (same keys).

Prints rows/s for each and the ratios. Best of --repeat runs (a fresh database each).

    .venv/bin/python bench/load_postgres.py [--rows 1000000] [--repeat 3] [--no-row-path]
        [--per-customer 20] [--qualified 1.0] [--parts N] [--sources 1]

`--qualified 0.3 --per-customer 3 --sources 2` is shaped like a province's initial load
(about 30% of the merged customers qualify, only their accounts are published; a merged
customer has about 2.2 source records, each with its contact row); `--parts N` hands the
batch's big tables as TableParts of N Parquet parts (as the bucketed initial load does).
"peak memory" is the process's resident memory during the first write_batch above what it
was before (the batch itself, in memory or not, is not counted).

Needs the PostgreSQL binaries (make system-deps); as root it runs the server as `crmpg`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.batch import FileCounts, ProvinceBatch, TableParts  # noqa: E402
from common.schema import MONEY  # noqa: E402
from load import Warehouse  # noqa: E402
from load.prepare import CNY  # noqa: E402
from tests.servers.postgres import PostgresServer  # noqa: E402

DAY = date(2026, 11, 24)
NEXT_DAY = date(2026, 11, 25)


def build_batch(
    rows: int, per_customer: int, qualified: float = 1.0, sources: int = 1
) -> ProvinceBatch:
    """A ZJ batch of `rows` accounts, built column-wise (no per-row Python dicts); a
    `qualified` share of the customers qualifies (spread evenly); each customer merges
    `sources` source records (its RTL master, then contacts in CRD, LON, FND)."""
    customers = -(-rows // per_customer)
    cust = pa.array([f"R{i:09d}" for i in range(customers)])
    id_no = pa.array([f"3301{i:014d}" for i in range(customers)])
    cust_key = pc.binary_join_element_wise("P", "01", id_no, "|")
    owner = pa.array([i // per_customer for i in range(rows)], pa.int64())
    balance = pc.cast(pc.multiply(pc.add(owner, 1000), 7), pa.decimal128(20, 0)).cast(MONEY)
    n = customers
    batch_customers = pa.table(
        {
            "cust_key": cust_key,
            "cust_type": pa.array(["P"] * n),
            "id_type": pa.array(["01"] * n),
            "id_no": id_no,
            "id_valid": pa.array([True] * n),
            "name": pa.array(["张三"] * n),
            "master_source": pa.array(["RTL"] * n),
            "master_cust_no": cust,
            "source_count": pa.array([1] * n, pa.int32()),
            "score": pa.array([600000] * n, pa.decimal128(20, 0)).cast(MONEY),
            "qualified": pa.array(
                [int((i + 1) * qualified) > int(i * qualified) for i in range(n)]
            ),
            "formula_id": pa.array(["zj_personal@0123456789ab"] * n),
        }
    )
    systems = ["RTL", "CRD", "LON", "FND"][: max(1, min(sources, 4))]
    links = pa.concat_tables(
        [
            pa.table(
                {
                    "source": pa.array([system] * n),
                    "cust_no": cust,
                    "cust_key": cust_key,
                    "role": pa.array(["master" if system == "RTL" else "contact"] * n),
                }
            )
            for system in systems
        ]
    )
    source_customers = pa.table(
        {
            "source": links.column("source"),
            "cust_no": links.column("cust_no"),
            "mobile": pa.array(["13800000000"] * links.num_rows),
            "phone": pa.array(["0571-88888888"] * links.num_rows),
            "address": pa.array(["浙江省杭州市西湖区文三路 100 号"] * links.num_rows),
            "postcode": pa.array(["310000"] * links.num_rows),
        }
    )
    accounts = pa.table(
        {
            "source": pa.array(["RTL"] * rows),
            "acct_no": pa.array([f"6222{i:012d}" for i in range(rows)]),
            "cust_no": pc.take(cust, owner),
            "kind": pa.array(["DEMAND"] * rows),
            "currency": pa.array(["CNY"] * rows),
            "status": pa.array(["N"] * rows),
            "balance": balance,
            "cust_key": pc.take(cust_key, owner),
            "balance_cny": balance.cast(CNY),
            "in_scope": pa.array([True] * rows),
            "open_date": pa.array([date(2020, 1, 2)] * rows, pa.date32()),
        }
    )
    reject = pa.table(
        {n: pa.array([], pa.string()) for n in ("file", "raw", "reason", "field", "branch")}
    ).append_column("line", pa.array([], pa.int64()))
    return ProvinceBatch(
        business_date=DAY,
        province="ZJ",
        mode="initial",
        customers=batch_customers,
        links=links,
        source_customers=source_customers,
        accounts=accounts,
        rejects=reject,
        files=[FileCounts("RTL_ACCT_ZJ_20261124.dat", "ZJ", "RTL", "ACCT", rows, rows, 0, 0)],
        formula_ids={"P": "zj_personal@0123456789ab"},
    )


def next_day(batch: ProvinceBatch) -> ProvinceBatch:
    """The next date's batch: the same customers and accounts, every balance 0.01 more."""
    accounts = batch.accounts
    fen = pa.scalar(1, pa.decimal128(20, 0)).cast(MONEY)
    balance = pc.add(accounts.column("balance"), fen).cast(MONEY)
    index = accounts.column_names.index("balance")
    accounts = accounts.set_column(index, "balance", balance)
    index = accounts.column_names.index("balance_cny")
    accounts = accounts.set_column(index, "balance_cny", balance.cast(CNY))
    return dataclasses.replace(batch, business_date=NEXT_DAY, accounts=accounts)


def as_parts(batch: ProvinceBatch, directory: Path, parts: int) -> ProvinceBatch:
    """The batch with its big tables as TableParts: customer i (its link, source record and
    accounts) in part i mod `parts`, as the bucketed initial load hands them."""
    directory.mkdir(parents=True, exist_ok=True)
    assert isinstance(batch.customers, pa.Table) and isinstance(batch.accounts, pa.Table)
    keys = batch.customers.column("cust_key")
    customer_part = np.arange(len(keys)) % parts
    owners = pc.index_in(batch.accounts.column("cust_key"), value_set=keys).to_numpy()
    assert isinstance(batch.links, pa.Table)
    linked = pc.index_in(batch.links.column("cust_key"), value_set=keys).to_numpy()
    tables: dict[str, TableParts] = {}
    for name in ("customers", "links", "source_customers", "accounts"):
        table = getattr(batch, name)
        bucket = {"accounts": customer_part[owners], "customers": customer_part}.get(
            name,
            customer_part[linked],  # links and source records: row for row alike
        )
        paths = []
        for part in range(parts):
            path = directory / f"{name}-{part:03d}.parquet"
            pq.write_table(table.filter(pa.array(bucket == part)), path)
            paths.append(path)
        tables[name] = TableParts(tuple(paths), table.schema)
    return dataclasses.replace(batch, **tables)  # type: ignore[arg-type]


class PeakRss:
    """Peak resident memory of this process while in the `with` block, sampled every 10 ms,
    above what it was on entering it."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def pipeline_run(
    url: str, batch: ProvinceBatch, chunk_rows: int, later: ProvinceBatch | None, crm_rows: int
) -> tuple[float, float, float, float]:
    """Seconds for write_batch, for staging the account rows, and for the next date's
    write_batch (row path; 0 without `later`); MiB of peak memory above the batch's own
    during the first write_batch."""
    warehouse = Warehouse(url, chunk_rows=chunk_rows)
    warehouse.upgrade()
    spent: dict[str, float] = {}
    last = [0.0]

    def hook(stream: str, _chunk: int) -> None:
        # Time since the previous chunk (of any stream) goes to this chunk's stream: for
        # accounts, reading and shaping the part's rows and COPYing them.
        now = time.perf_counter()
        spent[stream] = spent.get(stream, 0.0) + now - last[0]
        last[0] = now

    try:
        start = last[0] = time.perf_counter()
        with PeakRss() as memory:
            result = warehouse.write_batch(batch, on_chunk=hook)
        total = time.perf_counter() - start
        row_path = 0.0
        if later is not None:
            start = time.perf_counter()
            again = warehouse.write_batch(later)
            row_path = time.perf_counter() - start
            assert again.published and again.accounts == crm_rows, again
    finally:
        warehouse.dispose()
    assert result.published and result.accounts == crm_rows, result
    return total, spent["stg_account"], row_path, memory.mib


def copy_run(server: PostgresServer, database: str, csv_path: Path, columns: list[str]) -> float:
    import psycopg

    with psycopg.connect(server.url(database, "postgresql"), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_account (LIKE crm_account INCLUDING ALL)")
        keys = conn.execute(
            "SELECT count(*) FROM pg_index WHERE indrelid = 'bench_account'::regclass"
        ).fetchone()
        assert keys is not None and keys[0] == 2, "bench_account lacks crm_account's keys"
        names = ", ".join(columns)
        start = time.perf_counter()
        conn.execute(f"COPY bench_account ({names}) FROM '{csv_path}' (FORMAT csv)")  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        copied = conn.execute("SELECT count(*) FROM bench_account").fetchone()
    assert copied is not None and copied[0] > 0
    return seconds


def crm_accounts(batch: ProvinceBatch) -> pa.Table:
    """The accounts of the batch's qualified customers: what its first load publishes."""
    assert isinstance(batch.customers, pa.Table) and isinstance(batch.accounts, pa.Table)
    customers = batch.customers.filter(batch.customers.column("qualified"))
    keys = batch.accounts.column("cust_key")
    return batch.accounts.filter(pc.is_in(keys, value_set=customers.column("cust_key")))


def write_copy_file(server: PostgresServer, batch: ProvinceBatch) -> tuple[Path, list[str]]:
    """The account rows exactly as crm_account holds them, as a CSV file the server reads."""
    accounts = crm_accounts(batch)
    table = pa.table(
        {
            "province": pa.array(["ZJ"] * accounts.num_rows),
            "source": accounts.column("source"),
            "acct_no": accounts.column("acct_no"),
            "crm_cust_id": pa.array(range(1, accounts.num_rows + 1), pa.int64()),
            "source_cust_no": accounts.column("cust_no"),
            "kind": accounts.column("kind"),
            "currency": accounts.column("currency"),
            "balance": accounts.column("balance"),
            "balance_cny": accounts.column("balance_cny"),
            "status": accounts.column("status"),
            "in_scope": accounts.column("in_scope"),
            "open_date": accounts.column("open_date"),
            "batch_id": pa.array([1] * accounts.num_rows, pa.int64()),
        }
    )
    path = server.root / "accounts.csv"
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=False))
    os.chmod(path, 0o644)
    return path, table.column_names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="account records")
    parser.add_argument("--per-customer", type=int, default=20)
    parser.add_argument(
        "--qualified", type=float, default=1.0, help="share of the customers that qualify"
    )
    parser.add_argument(
        "--parts", type=int, default=0, help="hand the batch as TableParts of this many parts"
    )
    parser.add_argument("--sources", type=int, default=1, help="source records per customer (1-4)")
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-row-path", action="store_true", help="skip the next date's (row path) load"
    )
    args = parser.parse_args()

    print(f"building a batch of {args.rows:,} account records ...", flush=True)
    batch = build_batch(args.rows, args.per_customer, args.qualified, args.sources)
    crm_rows = crm_accounts(batch).num_rows
    later = None if args.no_row_path else next_day(batch)
    server = PostgresServer(fsync=True)
    server.start()
    parts_dir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    try:
        csv_path, columns = write_copy_file(server, batch)
        if args.parts:
            batch = as_parts(batch, parts_dir / "first", args.parts)
            if later is not None:
                later = as_parts(later, parts_dir / "next", args.parts)
        best_total = best_stage = best_copy = best_rows = best_mib = float("inf")
        for attempt in range(1, args.repeat + 1):
            database = server.create_database()
            total, staging, row_path, mib = pipeline_run(
                server.url(database), batch, args.chunk_rows, later, crm_rows
            )
            copy = copy_run(server, database, csv_path, columns)
            server.drop_database(database)
            print(
                f"run {attempt}: pipeline {total:.2f}s (account staging {staging:.2f}s,"
                f" peak +{mib:,.0f} MiB), COPY FROM file {copy:.2f}s"
                + (f", next date row path {row_path:.2f}s" if later is not None else ""),
                flush=True,
            )
            best_total, best_stage = min(best_total, total), min(best_stage, staging)
            best_copy, best_mib = min(best_copy, copy), min(best_mib, mib)
            if later is not None:
                best_rows = min(best_rows, row_path)
    finally:
        server.stop()
        shutil.rmtree(parts_dir, ignore_errors=True)

    rows = crm_rows
    pipeline, staging, copy = rows / best_total, rows / best_stage, rows / best_copy
    customers = -(-args.rows // args.per_customer)
    print()
    print(
        f"batch: {args.rows:,} account records, {customers:,} customers,"
        f" {args.qualified:.0%} qualified, {args.sources} source record(s) each:"
        f" {rows:,} crm_account rows"
        + (f"; as {args.parts} TableParts" if args.parts else "; in memory")
    )
    print(f"pipeline write_batch, first load (stage + publish): {pipeline:>12,.0f} rows/s")
    print(f"  best time {best_total:.2f} s; least peak memory above the batch {best_mib:,.0f} MiB")
    print(f"  of which account staging (COPY STDIN):          {staging:>12,.0f} rows/s")
    if later is not None:
        print(
            f"next date, every balance changed (row path):       {rows / best_rows:>12,.0f} rows/s"
        )
    print(f"PostgreSQL COPY FROM file:                          {copy:>12,.0f} rows/s")
    print(
        f"ratio pipeline / COPY: {pipeline / copy:.2f}   staging / COPY: {staging / copy:.2f}"
        + (f"   row path / COPY: {rows / best_rows / copy:.2f}" if later is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
