"""Per-currency totals of a state's accounts, carried from date to date (pure).

The daily quality gate reads, of the province's whole accounts, only the currencies in use
and the sum of |balance_cny| per currency. A full snapshot's totals are summed once, when
it is written; a layer's are the previous date's, less the rows the layer hides, plus the
rows it writes (exact decimals, with the account count of each currency so that one whose
last account went leaves the totals as it leaves a sum of the province), so a daily night
never sums the province (issue 21).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from transform.fx import CNY_EXACT

TOTALS = pa.schema(
    [("currency", pa.string()), ("balance_cny", CNY_EXACT), ("accounts", pa.int64())]
)


def currency_sums(accounts: pa.Table, live: pa.Array | None = None) -> pa.Table:
    """TOTALS of the `live` rows (all: None): per currency they hold, the exact sum of
    |balance_cny| and the number of rows, sorted by currency."""
    value = pc.abs(pc.fill_null(accounts.column("balance_cny"), 0))
    columns = {"currency": accounts.column("currency"), "balance_cny": value}
    keys = ["currency"]
    if live is not None:
        columns["live"], keys = live, ["currency", "live"]
    grouped = (
        pa.table(columns)
        .group_by(keys, use_threads=False)
        .aggregate([("balance_cny", "sum"), ([], "count_all")])
    )
    if live is not None:
        grouped = grouped.filter(grouped.column("live"))
    return pa.table(
        {
            "currency": grouped.column("currency").cast(pa.string()),
            "balance_cny": grouped.column("balance_cny_sum").cast(CNY_EXACT),
            "accounts": grouped.column("count_all").cast(pa.int64()),
        },
        schema=TOTALS,
    ).sort_by("currency")


def _by_currency(totals: pa.Table) -> dict[str, tuple[Decimal, int]]:
    return {
        c: (v or Decimal(0), n)
        for c, v, n in zip(
            totals.column("currency").to_pylist(),
            totals.column("balance_cny").to_pylist(),
            totals.column("accounts").to_pylist(),
            strict=True,
        )
    }


def carried_sums(previous: pa.Table, hidden: pa.Table, written: pa.Table) -> pa.Table:
    """TOTALS of a date from the previous date's `previous` TOTALS, the previous date's
    rows its layer hides (replaced or removed, as they were) and the rows it writes."""
    totals = _by_currency(previous)
    for sign, rows in ((-1, hidden), (1, written)):
        for currency, (value, count) in _by_currency(currency_sums(rows)).items():
            old_value, old_count = totals.get(currency, (Decimal(0), 0))
            totals[currency] = (old_value + sign * value, old_count + sign * count)
    kept = sorted(c for c, (_, n) in totals.items() if n > 0)
    return pa.table(
        {
            "currency": kept,
            "balance_cny": pa.array([totals[c][0] for c in kept], CNY_EXACT),
            "accounts": [totals[c][1] for c in kept],
        },
        schema=TOTALS,
    )
