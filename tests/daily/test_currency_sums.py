"""The quality gate's account totals of a date over layers (crm_pipeline.state.currency_sums):
per currency, the exact sum of |balance_cny| of the live rows, against a Fraction oracle."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa

from crm_pipeline.state import currency_sums
from transform.fx import CNY_EXACT


def _accounts(seed: int, n: int) -> tuple[pa.Table, list[bool]]:
    rng = random.Random(seed)
    currencies = [rng.choice(["CNY", "USD", "JPY", "EUR"]) for _ in range(n)]
    currencies[0] = "GBP"  # held by a row that is not live: not in use
    values = [
        None if rng.random() < 0.05
        else Decimal(rng.randrange(-(10**16), 10**16)).scaleb(-8)
        for _ in range(n)
    ]  # fmt: skip
    live = [rng.random() < 0.8 for _ in range(n)]
    live[0] = False
    table = pa.table(
        {"currency": currencies, "balance_cny": pa.array(values, CNY_EXACT), "other": range(n)}
    )
    return table, live


def test_sums_of_the_live_rows_per_currency() -> None:
    table, live = _accounts(5, 3000)
    oracle: dict[str, Fraction] = {}
    for currency, value, alive in zip(
        table.column("currency").to_pylist(), table.column("balance_cny").to_pylist(), live,
        strict=True,
    ):  # fmt: skip
        if alive:
            oracle[currency] = oracle.get(currency, Fraction(0)) + abs(Fraction(value or 0))
    sums = currency_sums(table, pa.array(live))
    got = dict(
        zip(
            sums.column("currency").to_pylist(), sums.column("balance_cny").to_pylist(), strict=True
        )
    )
    assert {c: Fraction(v) for c, v in got.items()} == oracle
    assert "GBP" not in got and sums.column("currency").to_pylist() == sorted(got)


def test_every_row_when_no_mask() -> None:
    table, _ = _accounts(6, 500)
    sums = currency_sums(table)
    total = sum(abs(Fraction(v or 0)) for v in table.column("balance_cny").to_pylist())
    assert sum(Fraction(v) for v in sums.column("balance_cny").to_pylist()) == total
    assert set(sums.column("currency").to_pylist()) == set(table.column("currency").to_pylist())
