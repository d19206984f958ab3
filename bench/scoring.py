"""Benchmark: the reference formulas over N generated accounts (default 10 million).

    .venv/bin/python bench/scoring.py [--accounts 10000000] [--province GD]

Generates a random scoring input (the accounts table the runner stages: SOURCE_ACCOUNT
columns + cust_key, cust_type, CNY equivalents, in_scope) and its merged customers,
writes them to Parquet in a temporary folder, then in a fresh process (so the figures
are not inflated by the generator) times reading the accounts back from Parquet and
scoring them, and reports the peak resident memory (resource.getrusage) after each and
Arrow's peak allocation during scoring. Record the figures in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.schema import MERGED_CUSTOMER, SCORED_ACCOUNT_EXTRA, SOURCE_ACCOUNT  # noqa: E402

# CNY per 100 units
RATES = {"CNY": 10000, "USD": 71234, "EUR": 78012, "HKD": 9123}  # in 1/100 of the rate


def _decimal(unscaled: np.ndarray, precision: int, scale: int) -> pa.Array:
    """A decimal128 array from non-negative int64 unscaled values, without Python objects."""
    words = np.zeros((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(unscaled), [None, pa.py_buffer(words)]
    )


def generate(accounts: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """Random accounts (about 4 per customer, all kinds) and their merged customers."""
    rng = np.random.default_rng(seed)
    customers = max(accounts // 4, 1)
    owner = rng.integers(0, customers, accounts)
    kinds = np.array(["DEMAND", "TIME", "CARD", "LOAN", "FUND"])
    kind_index = rng.choice(5, accounts, p=[0.35, 0.2, 0.2, 0.1, 0.15])
    sources = np.array(["RTL", "RTL", "CRD", "LON", "FND"])[kind_index]
    currencies = np.array(list(RATES))
    currency_index = rng.choice(4, accounts, p=[0.85, 0.08, 0.04, 0.03])
    rate = np.array(list(RATES.values()), dtype=np.int64)[currency_index]
    cents = np.minimum(rng.lognormal(13, 1.6, accounts), 5e10).astype(np.int64)
    overdraft = np.where(kind_index == 2, rng.integers(0, 2_000_000, accounts), 0)
    overdue = np.where(
        kind_index == 3, rng.integers(0, 5_000_000, accounts) * (rng.random(accounts) < 0.1), 0
    )
    term = np.where(
        kind_index == 1,
        rng.choice([3, 6, 12, 24, 36, 60], accounts),
        np.where(kind_index == 3, rng.choice([0, 12, 36, 120, 360], accounts), 0),
    ).astype(np.int32)
    periods = np.where(overdue > 0, rng.integers(1, 12, accounts), 0).astype(np.int32)
    status = np.array(["N", "F", "C"])[rng.choice(3, accounts, p=[0.9, 0.03, 0.07])]
    types = np.where(rng.random(customers) < 0.9, "P", "C")
    keys = pc.binary_join_element_wise(
        pa.array(types), pa.array(np.arange(customers)).cast(pa.string()), "|01|"
    )
    cust_key = keys.take(pa.array(owner))
    cust_type = pa.array(types).take(pa.array(owner))
    acct_no = pa.array(np.arange(accounts)).cast(pa.string())
    # CNY equivalents, decimal128(38, 8): cents x rate(1/100) x 10^4 / 100 ... exactly.
    to_cny = rate * 100  # unscaled at scale 8 per cent: cents * rate/10000 * 10^6
    columns = {
        "source": pa.array(sources),
        "acct_no": acct_no,
        "cust_no": cust_key,
        "kind": pa.array(kinds[kind_index]),
        "currency": pa.array(currencies[currency_index]),
        "status": pa.array(status),
        "balance": _decimal(cents, 20, 2),
        "overdraft": _decimal(overdraft, 20, 2),
        "credit_limit": pa.nulls(accounts, pa.decimal128(20, 2)),
        "term_months": pa.array(term),
        "overdue_balance": _decimal(overdue, 20, 2),
        "overdue_periods": pa.array(periods),
        "open_date": pa.nulls(accounts, pa.date32()),
        "maturity_date": pa.nulls(accounts, pa.date32()),
        "fund_code": pa.nulls(accounts, pa.string()),
        "shares": pa.nulls(accounts, pa.decimal128(20, 2)),
        "nav": pa.nulls(accounts, pa.decimal128(20, 4)),
        "branch_code": pa.nulls(accounts, pa.string()),
        "branch": pa.array(np.full(accounts, "ZJ")),
        "file": pa.array(np.full(accounts, "bench")),
        "line": pa.array(np.arange(accounts)),
        "cust_key": cust_key,
        "cust_type": cust_type,
        "balance_cny": _decimal(cents * to_cny, 38, 8),
        "overdraft_cny": _decimal(overdraft * to_cny, 38, 8),
        "overdue_balance_cny": _decimal(overdue * to_cny, 38, 8),
        "in_scope": pa.array(rng.random(accounts) < 0.97),
    }
    schema = pa.schema([*SOURCE_ACCOUNT, *SCORED_ACCOUNT_EXTRA, pa.field("in_scope", pa.bool_())])
    table = pa.table({f.name: columns[f.name].cast(f.type) for f in schema})
    merged = pa.table(
        {
            "cust_key": keys,
            "cust_type": pa.array(types),
            "id_type": pa.array(np.full(customers, "01")),
            "id_no": pa.array(np.arange(customers)).cast(pa.string()),
            "id_valid": pa.array(np.ones(customers, dtype=bool)),
            "name": pa.nulls(customers, pa.string()),
            "master_source": pa.array(np.full(customers, "RTL")),
            "master_cust_no": keys,
            "source_count": pa.array(np.ones(customers, dtype=np.int32)),
        },
        schema=MERGED_CUSTOMER,
    )
    return table, merged


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(folder: Path, province: str) -> dict[str, float]:
    """Read the staged accounts, then score them: times and peak memory of each."""
    from transform.scoring import load_formulas

    formulas = load_formulas(ROOT / "scoring_formulas").for_province(province, date(2026, 11, 24))
    start = time.perf_counter()
    accounts = pq.read_table(folder / "scoring_input.parquet")
    customers = pq.read_table(folder / "merged.parquet")
    read_s = time.perf_counter() - start
    after_read = peak_mib()
    pool = pa.default_memory_pool()
    before = pool.bytes_allocated()
    start = time.perf_counter()
    scores = formulas.score(accounts, customers)
    score_s = time.perf_counter() - start
    return {
        "accounts": accounts.num_rows,
        "customers": customers.num_rows,
        "qualified": pc.sum(scores.column("qualified")).as_py(),
        "read_s": read_s,
        "score_s": score_s,
        "peak_rss_after_read_mib": after_read,
        "peak_rss_after_score_mib": peak_mib(),
        "arrow_peak_mib": pool.max_memory() / 2**20,
        "arrow_input_mib": before / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000_000)
    parser.add_argument("--province", default="ZJ")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.province)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        accounts, customers = generate(args.accounts)
        pq.write_table(accounts, folder / "scoring_input.parquet")
        pq.write_table(customers, folder / "merged.parquet")
        print(
            f"generated {accounts.num_rows:,} accounts, {customers.num_rows:,} customers in {time.perf_counter() - start:.1f} s"
        )
        del accounts, customers
        done = subprocess.run(
            [sys.executable, __file__, "--measure", str(folder), "--province", args.province],
            check=True,
            capture_output=True,
            text=True,
        )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"province {args.province}: {r['accounts']:,} accounts, {r['customers']:,} customers, {r['qualified']:,} qualified"
    )
    print(
        f"read from Parquet     {r['read_s']:7.2f} s   peak RSS {r['peak_rss_after_read_mib']:8.0f} MiB"
    )
    print(
        f"score (formulas only) {r['score_s']:7.2f} s   peak RSS {r['peak_rss_after_score_mib']:8.0f} MiB"
        f"   (Arrow peak {r['arrow_peak_mib']:.0f} MiB, of which input {r['arrow_input_mib']:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
