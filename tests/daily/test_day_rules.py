"""The daily run's pure rules: revaluation, known customers, what a day touched, totals."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pytest

from common.batch import FileCounts
from common.errors import PipelineError
from common.schema import FX_RATE, REJECT, SOURCE_CUSTOMER, conform
from crm_pipeline.daily.apply import known_customers, split_ignored
from crm_pipeline.daily.revalue import revalue
from crm_pipeline.daily.run import file_totals
from crm_pipeline.daily.touched import account_owners, touched_records
from crm_pipeline.state import STATE_ACCOUNT
from transform.changes import apply_changes

KEY_C = ["source", "cust_no"]
RATES = {"CNY": "100", "USD": "710.5", "EUR": "780"}


def _rates(rates: dict[str, str]) -> pa.Table:
    return pa.table(
        {"currency": list(rates), "cny_per_100": [Decimal(r) for r in rates.values()]}
    ).cast(FX_RATE)


def _state_accounts(rows: list[dict[str, object]]) -> pa.Table:
    """STATE_ACCOUNT rows: (acct_no, source, currency, balance, overdraft, overdue_balance,
    the three CNY equivalents as of yesterday, in_scope); the rest filled."""
    n = len(rows)
    money = [f for f in STATE_ACCOUNT if f.type in (pa.decimal128(20, 2), pa.decimal128(38, 8))]
    columns: dict[str, object] = {
        "source": [r["source"] for r in rows], "acct_no": [r["acct_no"] for r in rows],
        "cust_no": [r.get("cust_no", "c1") for r in rows], "kind": ["X"] * n,
        "currency": [r["currency"] for r in rows], "status": ["N"] * n,
        "term_months": [0] * n, "overdue_periods": [0] * n, "branch": ["ZJ"] * n,
        "file": ["f"] * n, "line": list(range(1, n + 1)),
        "in_scope": [r.get("in_scope", True) for r in rows],
    }  # fmt: skip
    for f in money:
        columns[f.name] = pa.array([Decimal(str(r.get(f.name, "0"))) for r in rows], f.type)
    return conform(pa.table(columns), STATE_ACCOUNT)


def _cny(amount: str, currency: str) -> Fraction:
    return Fraction(Decimal(amount)) * Fraction(Decimal(RATES[currency])) / 100


def test_revalue_values_foreign_accounts_at_the_day_rates_exactly() -> None:
    accounts = _state_accounts(
        [
            # CNY, in scope and still in scope: unchanged
            {"acct_no": "a1", "source": "RTL", "currency": "CNY", "balance": "100.00",
             "balance_cny": "100"},
            # USD at yesterday's 700: moves with today's 710.5
            {"acct_no": "a2", "source": "RTL", "currency": "USD", "balance": "10.01",
             "balance_cny": "70.07"},
            # EUR at today's rate already: does not move
            {"acct_no": "a3", "source": "LON", "currency": "EUR", "balance": "1000.00",
             "overdue_balance": "10.00", "balance_cny": "7800", "overdue_balance_cny": "78"},
            # CNY, under today's export filter: its scope moves
            {"acct_no": "a4", "source": "RTL", "currency": "CNY", "balance": "40.00",
             "balance_cny": "40"},
            # only the overdraft's equivalent moves
            {"acct_no": "a5", "source": "CRD", "currency": "USD", "overdraft": "5.00",
             "overdraft_cny": "35"},
        ]
    )  # fmt: skip
    new, moved = revalue(accounts, _rates(RATES), Decimal("50"))
    assert moved.to_pylist() == [False, True, False, True, True]
    assert new.schema == STATE_ACCOUNT
    assert new.column("acct_no").to_pylist() == ["a1", "a2", "a3", "a4", "a5"]
    rows = new.to_pylist()
    for row, before in zip(rows, accounts.to_pylist(), strict=True):
        for name, source in [("balance_cny", "balance"), ("overdraft_cny", "overdraft"),
                             ("overdue_balance_cny", "overdue_balance")]:  # fmt: skip
            assert Fraction(row[name]) == _cny(str(before[source]), row["currency"]), name
    assert [r["in_scope"] for r in rows] == [True, True, True, False, True]


def test_revalue_values_only_the_currencies_whose_rate_moved() -> None:
    """Yesterday at USD 700, EUR 780: today's USD 710.5 moves the USD accounts only; with
    the same rates as yesterday nothing moves and nothing is computed."""
    usd = Decimal("10.01") * Decimal("7.00")
    accounts = _state_accounts(
        [{"acct_no": "a1", "source": "RTL", "currency": "USD", "balance": "10.01",
          "balance_cny": str(usd)},
         # EUR valued at 780 yesterday, stored wrong on purpose: not looked at again
         {"acct_no": "a2", "source": "LON", "currency": "EUR", "balance": "1.00",
          "balance_cny": "1.23"},
         {"acct_no": "a3", "source": "RTL", "currency": "CNY", "balance": "100.00",
          "balance_cny": "100"}]
    )  # fmt: skip
    yesterday = _rates({**RATES, "USD": "700"})
    new, moved = revalue(accounts, _rates(RATES), Decimal("50"), yesterday)
    assert moved.to_pylist() == [True, False, False]
    assert Fraction(new.column("balance_cny")[0].as_py()) == _cny("10.01", "USD")
    assert new.column("balance_cny")[1].as_py() == Decimal("1.23")
    same, none = revalue(accounts, _rates(RATES), Decimal("50"), _rates(RATES))
    assert none.to_pylist() == [False, False, False]
    assert same.column("balance_cny").to_pylist() == accounts.column("balance_cny").to_pylist()
    # a currency held today but gone from today's rates is still named
    with pytest.raises(PipelineError, match="no FX rate for EUR"):
        revalue(accounts, _rates({"CNY": "100", "USD": "710.5"}), Decimal("50"), yesterday)


def test_revalue_names_a_currency_without_a_rate() -> None:
    accounts = _state_accounts(
        [{"acct_no": "a1", "source": "RTL", "currency": "GBP", "balance": "1.00"},
         {"acct_no": "a2", "source": "RTL", "currency": "CNY", "balance": "1.00"}]
    )  # fmt: skip
    with pytest.raises(PipelineError, match="no FX rate for GBP.*held by 1 account"):
        revalue(accounts, _rates(RATES), Decimal("0"))


def _customers(rows: list[tuple[str, str]]) -> pa.Table:
    """RTL person records (cust_no, id_no)."""
    n = len(rows)
    return conform(
        pa.table(
            {
                "source": ["RTL"] * n, "cust_no": [r[0] for r in rows], "cust_type": ["P"] * n,
                "name": ["n"] * n, "id_type": ["01"] * n, "id_no_raw": [r[1] for r in rows],
                "id_no": [r[1] for r in rows], "id_valid": [True] * n, "branch": ["ZJ"] * n,
                "file": ["f"] * n, "line": list(range(1, n + 1)),
            }
        ),
        SOURCE_CUSTOMER,
    )  # fmt: skip


def _changes(rows: list[tuple[str, str]], actions: list[str]) -> pa.Table:
    return _customers(rows).append_column("action", pa.array(actions, pa.string()))


def test_a_customer_deleted_today_is_still_known_to_its_accounts() -> None:
    state = _customers([("1", "A"), ("2", "B"), ("3", "C")])
    applied = apply_changes(state, _changes([("2", "B"), ("4", "D")], ["D", "A"]), KEY_C, True)
    known = known_customers(applied)
    assert sorted(known.column("cust_no").to_pylist()) == ["1", "2", "3", "4"]
    assert known.num_rows == 4  # each record once
    # asked about some owners only: those of them that are known, the deleted one too
    owners = pa.table({"source": ["RTL", "RTL", "RTL", "CRD"], "cust_no": ["2", "4", "9", "1"]})
    asked = known_customers(applied, owners)
    assert sorted(asked.column("cust_no").to_pylist()) == ["2", "4"]


def test_touched_are_both_sides_of_a_corrected_id_and_account_owners() -> None:
    """Record 1's number is corrected from A to B (customer 2's): A is gone, B re-merged;
    customer 3 holds an account that moved; customer 4 is untouched."""
    state = _customers([("1", "A"), ("2", "B"), ("3", "C"), ("4", "E")])
    applied = apply_changes(state, _changes([("1", "B")], ["U"]), KEY_C, True)
    owners = pa.table({"source": ["RTL"], "cust_no": ["3"]})
    touched = touched_records(applied, owners)
    old = sorted(
        zip(
            touched.old.column("cust_no").to_pylist(),
            touched.old.column("id_no").to_pylist(),
            strict=True,
        )
    )
    new = sorted(
        zip(
            touched.new.column("cust_no").to_pylist(),
            touched.new.column("id_no").to_pylist(),
            strict=True,
        )
    )
    # identity A (record 1 before), B (customer 2, and record 1 after), C (the owner)
    assert old == [("1", "A"), ("2", "B"), ("3", "C")]
    assert new == [("1", "B"), ("2", "B"), ("3", "C")]


def test_account_owners_are_new_old_and_revalued_holders() -> None:
    state = _state_accounts(
        [{"acct_no": "a1", "source": "RTL", "currency": "CNY", "cust_no": "old"},
         {"acct_no": "a2", "source": "RTL", "currency": "USD", "cust_no": "rated"},
         {"acct_no": "a3", "source": "RTL", "currency": "CNY", "cust_no": "still"}]
    )  # fmt: skip
    moved_to = state.slice(0, 1).set_column(
        state.schema.get_field_index("cust_no"), STATE_ACCOUNT.field("cust_no"), pa.array(["new"])
    )
    changes = moved_to.append_column("action", pa.array(["U"]))
    applied = apply_changes(state, changes, ["source", "acct_no"], False)
    moved = pa.array([False, True, False])
    owners = account_owners(applied, state, moved)
    assert sorted(owners.column("cust_no").to_pylist()) == ["new", "old", "rated"]


def test_file_totals_sum_the_reconciled_counts() -> None:
    files = [
        FileCounts("a", "ZJ", "RTL", "CUSTCHG", 10, 7, 2, 1, flagged=3),
        FileCounts("b", "NB", "RTL", "TXN", 5, 4, 0, 1),
    ]
    assert file_totals(files) == {"read": 15, "kept": 11, "set_aside": 2, "filtered": 2}
    assert file_totals([]) == {"read": 0, "kept": 0, "set_aside": 0, "filtered": 0}


def test_a_delete_of_an_unknown_key_is_ignored_unless_sent_twice() -> None:
    """f1:1 and f1:3 delete unknown keys (ignored); f2:1 deletes key 8 again (a cross-file
    duplicate: set aside, not ignored); f2:2 deletes an unknown key that conform set aside
    (ignored all the same); f1:2 updates a known record (applied)."""
    actions = pa.table(
        {"file": ["f1", "f1", "f1", "f2", "f2"], "line": pa.array([1, 2, 3, 1, 2], pa.int64()),
         "action": ["D", "U", "D", "D", "D"], "source": ["RTL"] * 5,
         "key": ["9", "1", "8", "8", "7"]}
    )  # fmt: skip
    state = pa.table({"source": ["RTL"], "cust_no": ["1"]})
    kept = pa.table(
        {"file": ["f1", "f1", "f1"], "line": pa.array([1, 2, 3], pa.int64()),
         "source": ["RTL"] * 3, "cust_no": ["9", "1", "8"]}
    )  # fmt: skip
    rejects = conform(
        pa.table({"file": ["f2", "f2"], "line": pa.array([1, 2], pa.int64()), "raw": ["", ""],
                  "reason": ["duplicate", "orphan"], "branch": ["ZJ", "ZJ"]}),
        REJECT,
    )  # fmt: skip
    changes = split_ignored(actions, state, KEY_C, kept, rejects)
    assert changes.ignored == {"f1": 2, "f2": 1}
    assert changes.rows.select(["file", "line", "action"]).to_pylist() == [
        {"file": "f1", "line": 2, "action": "U"}
    ]
    assert changes.rejects.select(["file", "line"]).to_pylist() == [{"file": "f2", "line": 1}]


def _companies(rows: list[tuple[str, str, str]]) -> pa.Table:
    """Company records (cust_no, id_type, id_no)."""
    table = _customers([(r[0], r[2]) for r in rows])
    for name, values in (("cust_type", ["C"] * len(rows)), ("id_type", [r[1] for r in rows])):
        field = SOURCE_CUSTOMER.field(name)
        table = table.set_column(table.schema.get_field_index(name), field, pa.array(values))
    return table


def test_a_new_credit_code_touches_the_organization_code_it_embeds() -> None:
    """Record 1 holds organization code 12345678X; today record 9 arrives with a credit
    code embedding it: both merge into one customer, so record 1 is touched though no
    change names it, and record 2 (another code) is not."""
    state = _companies([("1", "21", "12345678X"), ("2", "21", "87654321Y")])
    credit = "91330100" + "12345678X" + "7"
    changes = _companies([("9", "23", credit)]).append_column("action", pa.array(["A"]))
    applied = apply_changes(state, changes, KEY_C, True)
    touched = touched_records(applied, pa.table({"source": ["RTL"], "cust_no": ["zz"]}))
    assert touched.old.column("cust_no").to_pylist() == ["1"]
    assert sorted(touched.new.column("cust_no").to_pylist()) == ["1", "9"]
