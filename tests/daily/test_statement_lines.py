"""The statement's pure parts (month, account and customer lines, the printer's file) and
the `crm-pipeline statement` command."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from common.errors import PipelineError
from crm_pipeline.cli import main
from crm_pipeline.statement import (
    CSV_COLUMNS,
    account_lines,
    customer_lines,
    month_bounds,
    write_export,
)
from tests.daily.conftest import make_world

MONEY = pa.decimal128(20, 2)


def test_month_bounds() -> None:
    assert month_bounds("2026-11") == (date(2026, 11, 1), date(2026, 11, 30))
    assert month_bounds("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    with pytest.raises(PipelineError, match="not a YYYY-MM month: '2026-13'"):
        month_bounds("2026-13")


def _money(values: list[str | None]) -> pa.Array:
    return pa.array([None if v is None else Decimal(v) for v in values], MONEY)


def _lines() -> tuple[pa.Table, pa.Table]:
    accounts = pa.table(
        {
            "crm_cust_id": pa.array([2, 1, 1], pa.int64()),
            "source": ["RTL", "RTL", "LON"],
            "acct_no": ["r2", "r1", "l1"],
            "kind": ["DEMAND", "DEMAND", "LOAN"],
            "currency": ["CNY", "CNY", "CNY"],
        }
    )
    opening = pa.table({"source": ["RTL", "LON"], "acct_no": ["r1", "l1"],
                        "balance": _money(["100.00", "500.00"])})  # fmt: skip
    closing = pa.table(
        {"source": ["RTL", "RTL", "LON"], "acct_no": ["r1", "r2", "l1"],
         "balance": _money(["130.50", "9.00", "400.00"]),
         "balance_cny": pa.array([Decimal("130.5"), Decimal("9"), Decimal("400")],
                                 pa.decimal128(38, 8))}
    )  # fmt: skip
    txns = pa.table(
        {"source": ["RTL", "RTL", "RTL", "LON"], "acct_no": ["r1", "r1", "r2", "l1"],
         "dc": ["C", "D", "C", "D"], "amount": _money(["40.00", "9.50", "10.00", "100.00"])}
    )  # fmt: skip
    return account_lines(accounts, opening, closing, txns), accounts


def test_account_lines_balance_at_both_ends_and_reconcile_the_txn_systems() -> None:
    lines, _ = _lines()
    rows = {r["acct_no"]: r for r in lines.to_pylist()}
    assert lines.column("acct_no").to_pylist() == ["l1", "r1", "r2"]  # by customer, source
    r1, r2, l1 = rows["r1"], rows["r2"], rows["l1"]
    assert (r1["opening_balance"], r1["credit_total"], r1["debit_total"],
            r1["closing_balance"]) == (Decimal("100.00"), Decimal("40.00"), Decimal("9.50"),
                                       Decimal("130.50"))  # fmt: skip
    assert r1["reconciled"] is True and (r1["credit_count"], r1["debit_count"]) == (1, 1)
    # opened in the month: opening 0; 0 + 10 credited != 9 at the close
    assert r2["opening_balance"] == Decimal("0.00") and r2["reconciled"] is False
    # a loan's balance does not follow its transactions: not reconciled either way
    assert l1["reconciled"] is None and l1["debit_total"] == Decimal("100.00")


def test_customer_lines_count_accounts_and_transactions() -> None:
    lines, _ = _lines()
    customers = pa.table(
        {"crm_cust_id": pa.array([2, 1, 3], pa.int64()), "name": ["b", "a", "c"],
         "id_type": ["01"] * 3, "id_no": ["x", "y", "z"]}
    )  # fmt: skip
    rows = customer_lines(customers, lines).to_pylist()
    assert [r["crm_cust_id"] for r in rows] == [1, 2, 3]
    assert [(r["accounts"], r["txn_count"]) for r in rows] == [(2, 3), (1, 1), (0, 0)]
    assert [r["closing_cny"] for r in rows] == [Decimal("530.5"), Decimal("9"), Decimal("0")]


def test_write_export_writes_the_printer_file_atomically(tmp_path: Path) -> None:
    lines, _ = _lines()
    customers = pa.table(
        {"crm_cust_id": pa.array([1, 2], pa.int64()), "name": ["a", "b"],
         "id_type": ["01", "01"], "id_no": ["y", "x"]}
    )  # fmt: skip
    txns = pa.table(
        {"source": ["RTL"], "acct_no": ["r1"], "txn_id": ["t1"],
         "txn_date": pa.array([date(2026, 11, 30)]), "txn_time": ["101500"], "dc": ["C"],
         "amount": _money(["40.00"]), "balance_after": _money(["140.00"]),
         "channel": ["ATM"], "memo": [""]}
    )  # fmt: skip
    path = tmp_path / "2026-11" / "ZJ.csv"
    digest = write_export(path, customers, lines, txns)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(path.parent.iterdir()) == [path]
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CSV_COLUMNS
    assert [(r[0], r[1], r[6]) for r in rows[1:]] == [
        ("H", "1", ""), ("A", "1", "l1"), ("A", "1", "r1"), ("T", "1", "r1"),
        ("H", "2", ""), ("A", "2", "r2"),
    ]  # fmt: skip
    assert rows[4][13:16] == ["t1", "20261130", "101500"]


def test_statement_command_reads_the_staging_area_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = make_world(tmp_path, date(2026, 11, 29), 2, ["ZJ"], 40, 3)  # 30 Nov and 1 Dec
    for index in range(3):
        assert w.run(index, "initial" if index == 0 else "daily")[0].status == "published"
    out = tmp_path / "statements"
    monkeypatch.setenv("CRM_STAGING_DIR", str(w.staging))
    args = ["statement", "--month", "2026-11", "--warehouse", w.url, "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "statement 2026-11" in printed and "produced" in printed
    assert (out / "2026-11" / "ZJ.csv").is_file()
    assert main(["statement", "--month", "2026-12", "--warehouse", w.url, "--out",
                 str(out)]) == 3  # fmt: skip
    assert "not over" in capsys.readouterr().out
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["statement", "--month", "2026-11", "--warehouse", empty]) == 1
    assert "no province published in 2026-11" in capsys.readouterr().out
