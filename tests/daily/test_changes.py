"""`transform.changes`: each action on each system's records, as pure table functions."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from common.schema import SOURCE_ACCOUNT, SOURCE_CUSTOMER, conform
from transform.changes import apply_changes, ignored_deletes, joined

KEY_C, KEY_A = ["source", "cust_no"], ["source", "acct_no"]


def _customers(source: str, rows: list[tuple[str, str]]) -> pa.Table:
    n = len(rows)
    return conform(
        pa.table(
            {
                "source": [source] * n, "cust_no": [r[0] for r in rows], "cust_type": ["P"] * n,
                "name": [r[1] for r in rows], "id_type": ["01"] * n, "id_no_raw": ["x"] * n,
                "id_no": ["x"] * n, "id_valid": [True] * n, "branch": ["ZJ"] * n,
                "file": ["f"] * n, "line": list(range(1, n + 1)),
            }
        ),
        SOURCE_CUSTOMER,
    )  # fmt: skip


def _accounts(source: str, rows: list[tuple[str, str, str, str]]) -> pa.Table:
    n = len(rows)
    zero = [Decimal("0.00")] * n
    return conform(
        pa.table(
            {
                "source": [source] * n, "acct_no": [r[0] for r in rows],
                "cust_no": [r[1] for r in rows], "kind": ["X"] * n, "currency": ["CNY"] * n,
                "status": [r[3] for r in rows],
                "balance": pa.array([Decimal(r[2]) for r in rows], pa.decimal128(20, 2)),
                "overdraft": pa.array(zero, pa.decimal128(20, 2)),
                "overdue_balance": pa.array(zero, pa.decimal128(20, 2)),
                "term_months": pa.array([0] * n, pa.int32()),
                "overdue_periods": pa.array([0] * n, pa.int32()),
                "branch": ["ZJ"] * n, "file": ["f"] * n, "line": list(range(1, n + 1)),
            }
        ),
        SOURCE_ACCOUNT,
    )  # fmt: skip


def _with_action(table: pa.Table, actions: list[str]) -> pa.Table:
    return table.append_column("action", pa.array(actions, pa.string()))


@pytest.mark.parametrize("source", ["RTL", "CRD", "LON", "FND"])
def test_customer_actions(source: str) -> None:
    state = _customers(source, [("1", "old one"), ("2", "two"), ("3", "three")])
    changes = _with_action(
        _customers(source, [("1", "new one"), ("2", "gone"), ("4", "added"), ("5", "as U"),
                            ("9", "unknown")]),
        ["U", "D", "A", "U", "D"],
    )  # fmt: skip
    assert ignored_deletes(state, changes, KEY_C).to_pylist() == [False] * 4 + [True]
    result = apply_changes(state, changes, KEY_C, removes=True)
    names = dict(
        zip(result.table["cust_no"].to_pylist(), result.table["name"].to_pylist(), strict=True)
    )
    assert names == {"1": "new one", "3": "three", "4": "added", "5": "as U"}
    assert result.replaced["cust_no"].to_pylist() == ["1", "2"]
    assert result.ignored["cust_no"].to_pylist() == ["9"]
    assert result.applied.num_rows == 4
    assert result.table.schema == state.schema


@pytest.mark.parametrize("source", ["RTL", "CRD", "LON", "FND"])
def test_account_actions(source: str) -> None:
    state = _accounts(source, [("a1", "1", "100.00", "N"), ("a2", "1", "50.00", "N")])
    changes = _with_action(
        _accounts(source, [("a1", "2", "70.00", "N"), ("a2", "1", "0.00", "C"),
                           ("a3", "1", "5.00", "N"), ("a4", "2", "6.00", "N"),
                           ("zz", "1", "0.00", "C")]),
        ["U", "D", "A", "U", "D"],
    )  # fmt: skip
    removes = pa.array([source == "FND"] * changes.num_rows)
    result = apply_changes(state, changes, KEY_A, removes)
    rows = {r["acct_no"]: r for r in result.table.to_pylist()}
    assert rows["a1"]["cust_no"] == "2" and rows["a1"]["balance"] == Decimal("70.00")  # moved
    if source == "FND":  # a D removes the holding
        assert "a2" not in rows
    else:  # a D closes the account, which stays
        assert (rows["a2"]["status"], rows["a2"]["balance"]) == ("C", Decimal("0.00"))
    assert {"a3", "a4"} <= set(rows) and "zz" not in rows
    assert result.ignored["acct_no"].to_pylist() == ["zz"]
    assert sorted(result.replaced["cust_no"].to_pylist()) == ["1", "1"]


def test_no_changes_is_the_state() -> None:
    state = _customers("RTL", [("1", "a")])
    empty = _with_action(_customers("RTL", []), [])
    result = apply_changes(state, empty, KEY_C, removes=True)
    assert result.table.equals(state) and result.ignored.num_rows == 0


def test_joined_is_the_inner_join_in_the_left_order() -> None:
    """`joined` against Arrow's join engine (the oracle) on random tables: left keys with
    no match, right keys no left row asks for, two key columns, the left order kept."""
    rng = np.random.default_rng(7)
    right_keys = rng.choice(400, 250, replace=False)
    right = pa.table(
        {
            "source": [f"S{k % 3}" for k in right_keys],
            "cust_no": [str(k // 3) for k in right_keys],
            "cust_key": [f"K{k}" for k in right_keys],
            "weight": rng.integers(0, 9, 250),
        }
    )
    asked = rng.integers(0, 400, 1000)
    left = pa.table(
        {
            "acct_no": [str(i) for i in range(1000)],
            "source": [f"S{k % 3}" for k in asked],
            "cust_no": [str(k // 3) for k in asked],
        }
    )
    got = joined(left, right, ["source", "cust_no"])
    oracle = left.join(right, keys=["source", "cust_no"], join_type="inner")
    assert got.column_names == oracle.column_names
    assert 0 < got.num_rows < left.num_rows
    assert got.sort_by("acct_no").to_pylist() == oracle.sort_by("acct_no").to_pylist()
    order = [int(a) for a in got.column("acct_no").to_pylist()]
    assert order == sorted(order)
