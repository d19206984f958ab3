"""CNY equivalents at the business date's board rates (CNY per 100 units), exactly.

balance (2 decimals) x cny_per_100 (up to 4) / 100 has at most 8 decimals: the product is
exact in decimal128(38, 8), with no intermediate rounding (core-dumps.md section 8).
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from common.schema import FX_RATE, RATE

CNY_EXACT = pa.decimal128(38, 8)
_HUNDREDTH = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))


def rates_table(fx_records: pa.Table) -> pa.Table:
    """FX_RATE from the typed FXR_RATE records, with CNY itself at 100."""
    rates = fx_records.select(["currency", "cny_per_100"]).cast(FX_RATE)
    if "CNY" not in rates.column("currency").to_pylist():
        cny = pa.table(
            {"currency": ["CNY"], "cny_per_100": pa.array([Decimal("100")], RATE)}, schema=FX_RATE
        )
        rates = pa.concat_tables([rates, cny])
    return rates


def to_cny(amounts: pa.Array | pa.ChunkedArray, rates: pa.Array | pa.ChunkedArray) -> pa.Array:
    """amount x cny_per_100 / 100, exact (decimal128(38, 8))."""
    product = pc.multiply(pc.multiply(amounts, rates), _HUNDREDTH)
    return pc.cast(product, CNY_EXACT)


def with_rates(accounts: pa.Table, rates: pa.Table) -> pa.Table:
    """Accounts with their currency's rate appended (`cny_per_100`; null when there is
    none), in their own order: a lookup (`index_in` + `take`), not a join."""
    currencies = rates.column("currency").combine_chunks()
    index = pc.index_in(accounts.column("currency"), value_set=currencies)
    rate = rates.column("cny_per_100").combine_chunks().take(index)
    return accounts.append_column(rates.schema.field("cny_per_100"), rate)
