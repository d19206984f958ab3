"""The quality gate's account totals of a date over layers (transform.currency_totals):
per currency, the exact sum of |balance_cny| of the live rows, against a Fraction oracle."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pyarrow.compute as pc

from common.staging import StagingArea
from crm_pipeline.state import read_currency_totals, read_state_accounts
from tests.daily.conftest import World
from transform.currency_totals import carried_sums, currency_sums
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


def test_totals_carried_by_a_layer_equal_the_sums_of_the_new_state() -> None:
    table, _ = _accounts(7, 2000)
    table = table.filter(pc.not_equal(table.column("currency"), "GBP"))
    n = table.num_rows
    hidden_rows = [
        i for i in range(n) if i % 3 == 0 or table.column("currency")[i].as_py() == "EUR"
    ]
    kept = table.take([i for i in range(n) if i not in set(hidden_rows)])
    written, _ = _accounts(8, 300)  # GBP arrives, EUR held only by rows written again
    written = written.filter(pc.not_equal(written.column("currency"), "EUR"))
    carried = carried_sums(currency_sums(table), table.take(hidden_rows), written)
    oracle: dict[str, Fraction] = {}
    for part in (kept, written):
        for c, v in zip(part.column("currency").to_pylist(),
                        part.column("balance_cny").to_pylist(), strict=True):  # fmt: skip
            oracle[c] = oracle.get(c, Fraction(0)) + abs(Fraction(v or 0))
    got = carried.column("currency").to_pylist()
    assert got == sorted(oracle) and "EUR" not in got and "GBP" in got
    values = carried.column("balance_cny").to_pylist()
    assert {c: Fraction(v) for c, v in zip(got, values, strict=True)} == oracle
    assert carried.equals(currency_sums(pa.concat_tables([kept, written])))


def test_every_snapshot_of_five_nights_carries_its_states_totals(world: World) -> None:
    area = StagingArea(world.staging)
    carried = 0
    for index in range(6):
        for province in ("ZJ", "GD"):
            totals = read_currency_totals(area, province, world.day(index))
            assert totals is not None, (province, index)
            accounts = read_state_accounts(area, province, world.d0 + timedelta(days=index))
            assert accounts is not None
            assert totals.equals(currency_sums(accounts)), (province, index)
            carried += (area.state_dir(province, world.day(index)) / "layer.json").exists()
    assert carried >= 2
