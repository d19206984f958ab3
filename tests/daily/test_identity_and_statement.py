"""An identification number corrected onto another CRM customer; the monthly statement."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from crm_pipeline.sample.daily import DayMaker, rate_units, read_initial, write_day
from crm_pipeline.sample.generate import write_sample
from crm_pipeline.statement import produce_statements
from tests.daily.conftest import World, make_world


def test_an_id_change_moves_the_record_and_its_accounts(tmp_path: Path) -> None:
    d0 = date(2026, 11, 24)
    landing = tmp_path / "landing"
    write_sample(landing, d0, ["ZJ"], 250, 21)
    w = World(tmp_path, landing, tmp_path / "staging", f"sqlite:///{tmp_path / 'w.db'}", d0, 1)
    assert w.run(0, "initial")[0].status == "published"
    target_id, target = w.query(
        "SELECT id_no, crm_cust_id FROM crm_customer WHERE qualified AND master_source = 'RTL'"
        " AND id_type = '01' AND source_count = 1 ORDER BY crm_cust_id LIMIT 1"
    )[0]
    mover, old = w.query(
        "SELECT s.source_cust_no, s.crm_cust_id FROM crm_customer_source s JOIN crm_customer c"
        f" ON c.crm_cust_id = s.crm_cust_id WHERE s.source = 'CRD' AND c.crm_cust_id <> {target}"
        " AND EXISTS (SELECT 1 FROM crm_account a"
        "  WHERE a.source = 'CRD' AND a.source_cust_no = s.source_cust_no) ORDER BY 1 LIMIT 1"
    )[0]
    cards = w.query(
        f"SELECT acct_no FROM crm_account WHERE source = 'CRD' AND source_cust_no = '{mover}'"
    )
    manifest, branches = read_initial(landing, d0)
    rates = {c: rate_units(r) for c, r in manifest["fx_rates"].items()}

    def make(maker: DayMaker) -> None:
        maker.move_identity("CRD", mover.encode(), target_id.encode())

    write_day(landing, d0 + timedelta(days=1), 1, branches, rates, make=make)
    assert w.run(1)[0].status == "published"
    source = w.query(
        f"SELECT crm_cust_id, role FROM crm_customer_source WHERE source_cust_no = '{mover}'"
    )
    assert source == [(target, "contact")]
    moved = w.query(
        f"SELECT DISTINCT crm_cust_id FROM crm_account WHERE source = 'CRD'"
        f" AND source_cust_no = '{mover}'"
    )
    assert cards and moved == [(target,)]
    counts = dict(w.query(f"SELECT crm_cust_id, source_count FROM crm_customer"
                          f" WHERE crm_cust_id IN ({target}, {old})"))  # fmt: skip
    assert counts[target] == 2
    assert (
        w.query(f"SELECT count(*) FROM crm_customer_source WHERE crm_cust_id = {old}")[0][0]
        == counts[old]
    )


def test_statement_across_a_month_boundary_and_its_purge(tmp_path: Path) -> None:
    w = make_world(tmp_path, date(2026, 11, 29), 3, ["ZJ"], 100, 9)  # 30 Nov, 1 and 2 Dec
    for index in range(4):
        assert w.run(index, "initial" if index == 0 else "daily")[0].status == "published"
    november = w.query("SELECT count(*) FROM crm_txn WHERE business_date = '2026-11-30'")[0][0]
    december = w.query("SELECT count(*) FROM crm_txn WHERE business_date > '2026-11-30'")[0][0]
    assert november and december
    out = tmp_path / "statements"
    [early] = produce_statements("2026-12", None, w.url, w.staging, out)
    assert early.status == "failed" and "not over" in (early.error or "")

    [summary] = produce_statements("2026-11", None, w.url, w.staging, out)
    assert summary.status == "produced", summary.error
    assert summary.transactions == summary.purged == november
    assert (summary.opening_date, summary.closing_date) == (date(2026, 11, 29),
                                                            date(2026, 11, 30))  # fmt: skip
    # the month's details are gone, the next month's are kept, and the purge is recorded
    assert w.query("SELECT count(*) FROM crm_txn")[0][0] == december
    purge = w.query("SELECT statement_month, province, rows_purged, statements, file_sha256"
                    " FROM crm_txn_purge")  # fmt: skip
    assert purge[0][:4] == ("2026-11", "ZJ", november, summary.customers)
    assert summary.customers == w.query("SELECT count(*) FROM crm_customer")[0][0]

    with (out / "2026-11" / "ZJ.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    accounts = [r for r in rows if r["record"] == "A"]
    txns = [r for r in rows if r["record"] == "T"]
    assert len(txns) == november and len(accounts) == summary.accounts
    assert all(t["txn_date"] == "20261130" for t in txns)
    for a in accounts:
        mine = [t for t in txns if (t["source"], t["acct_no"]) == (a["source"], a["acct_no"])]
        debit = sum((Decimal(t["amount"]) for t in mine if t["dc"] == "D"), Decimal("0.00"))
        credit = sum((Decimal(t["amount"]) for t in mine if t["dc"] == "C"), Decimal("0.00"))
        assert (Decimal(a["debit_total"]), Decimal(a["credit_total"])) == (debit, credit)
    # accounts of customers in the CRM since the initial load reconcile to the fen
    reconciled = w.query(
        "SELECT s.reconciled FROM crm_statement_account s JOIN crm_customer c"
        " ON c.crm_cust_id = s.crm_cust_id WHERE c.first_batch_id = 1"
        " AND s.source IN ('RTL', 'CRD')"
    )
    assert reconciled and all(r[0] for r in reconciled)
    moved = [a for a in accounts if Decimal(a["opening_balance"]) != Decimal(a["closing_balance"])]
    assert moved

    [again] = produce_statements("2026-11", None, w.url, w.staging, out)
    assert again.status == "already produced" and again.purged == november
