"""The monthly consolidated statement of every CRM customer, then the month's purge (issue 7).

For a month M and a province, the statement lists every CRM customer (`crm_customer`, qualified
or not: a CRM customer is never dropped) with each of its accounts (`crm_account`, all
systems): the opening and closing balance, the month's transactions and their totals.

- **Which days.** A transaction belongs to the statement of the month of the *business date
  that delivered it* (its own `txn_date` is printed as sent): the balances come from the
  same business dates' state snapshots, so for retail and card accounts
  opening + credits - debits = closing holds (`reconciled`), even when a transaction dated
  the 31st arrives with the next day's files.
- **Opening balance**: the state snapshot of the last published business date before M
  (if the province went live in M: the snapshot of its initial load, so the opening is the
  balance the pipeline started from). **Closing balance**: the snapshot of the last
  published business date in M. An account absent from a snapshot (opened later, or a fund
  holding removed) has 0 there.
- **When.** M must be over for the province (a business date after M is published, or M's
  last calendar day is), and every published daily batch in M must have its transaction
  details loaded (`crm_txn_load`); otherwise nothing is written.
- **Outputs.** `crm_statement` (one row per customer) and `crm_statement_account` (one per
  account) in the warehouse, and the printer's file `{out}/{YYYY-MM}/{P}.csv` (UTF-8, header
  line, one `H` line per customer, then one `A` line per account and its `T` lines; see
  docs/decisions.md "Daily runs and statements").
- **Purge.** In the same transaction as the statement rows, the month's details are deleted
  from `crm_txn` and the purge is logged in `crm_txn_purge` (rows purged, the file and its
  SHA-256). A month already purged is not produced again (the details are gone).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from common import settings
from common.errors import PipelineError
from common.paths import project_path
from common.schema import MONEY
from common.staging import StagingArea
from crm_pipeline.state import read_state_accounts
from load.business_dates import (
    provinces_published_in,
    published_batches,
    published_dates,
    txn_loaded_dates,
)
from load.statements import crm_customers, month_transactions, purge_record, record_statement
from load.warehouse import Warehouse
from transform.changes import composite_key
from transform.fx import CNY_EXACT

log = logging.getLogger(__name__)

DEFAULT_OUT = "var/statements"
TXN_SYSTEMS = ("RTL", "CRD")  # the systems that send transactions (core-dumps.md section 2)
CSV_COLUMNS = [
    "record", "crm_cust_id", "name", "id_type", "id_no", "source", "acct_no", "kind",
    "currency", "opening_balance", "closing_balance", "debit_total", "credit_total",
    "txn_id", "txn_date", "txn_time", "dc", "amount", "balance_after", "channel", "memo",
]  # fmt: skip
_ZERO = Decimal("0.00")


@dataclass
class StatementSummary:
    """What an operator needs to see about one province's statement run."""

    province: str
    status: str  # produced | already produced | failed
    error: str | None = None
    customers: int = 0
    accounts: int = 0
    transactions: int = 0
    purged: int = 0
    file: Path | None = None
    opening_date: date | None = None
    closing_date: date | None = None


def month_bounds(month: str) -> tuple[date, date]:
    """First and last calendar day of a `YYYY-MM` month."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError as exc:
        raise PipelineError(f"not a YYYY-MM month: {month!r}") from exc
    return first, first.replace(day=monthrange(first.year, first.month)[1])


def _balances(staging: str | Path, province: str, day: date) -> pa.Table:
    """(source, acct_no, balance, balance_cny) of a state snapshot."""
    area = StagingArea.open(staging)
    accounts = read_state_accounts(area, province, day)
    if accounts is None:
        raise PipelineError(
            f"{province}: the state snapshot of {day:%Y%m%d} is missing "
            f"({area.state_dir(province, day.strftime('%Y%m%d'))}): "
            "a statement needs the snapshots at the month's boundaries"
        )
    return accounts.select(["source", "acct_no", "balance", "balance_cny"])


def _dates(engine: Any, province: str, first: date, last: date) -> tuple[date, date]:
    """(opening, closing) business dates of the month; PipelineError if it cannot be made."""
    published = published_dates(engine, province)
    in_month = [d for d in published if first <= d <= last]
    if not in_month:
        raise PipelineError(f"{province}: no published business date in {first:%Y-%m}")
    if not (published[-1] > last or last in published):
        raise PipelineError(
            f"{province}: {first:%Y-%m} is not over (last published business date "
            f"{published[-1]:%Y%m%d}): the statement waits for the month's last day"
        )
    before = [d for d in published if d < first]
    opening = before[-1] if before else in_month[0]
    closing = in_month[-1]
    dailies = published_batches(engine, province, first, closing, mode="daily")
    loaded = txn_loaded_dates(engine, province, first, closing)
    missing = sorted(d for d in dailies if d > opening and d not in loaded)
    if missing:
        raise PipelineError(
            f"{province}: the transaction details of {missing[0]:%Y%m%d} are not loaded "
            "(rerun that day's daily load): the statement would miss them"
        )
    return opening, closing


def account_lines(
    accounts: pa.Table, opening: pa.Table, closing: pa.Table, txns: pa.Table
) -> pa.Table:
    """One row per CRM account: balances at both ends, debit and credit totals (pure).

    `accounts` (crm_cust_id, source, acct_no, kind, currency), `opening`/`closing`
    (source, acct_no, balance[, balance_cny]), `txns` (source, acct_no, dc, amount).
    """
    keys = ["source", "acct_no"]
    table = accounts.join(
        opening.select([*keys, "balance"]).rename_columns([*keys, "opening_balance"]),
        keys=keys,
        join_type="left outer",
    )
    table = table.join(
        closing.select([*keys, "balance", "balance_cny"]).rename_columns(
            [*keys, "closing_balance", "closing_cny"]
        ),
        keys=keys,
        join_type="left outer",
    )
    for dc, name in (("D", "debit"), ("C", "credit")):
        part = txns.filter(pc.equal(txns.column("dc"), dc))
        sums = part.group_by(keys).aggregate([("amount", "sum"), ("amount", "count")])
        sums = sums.rename_columns([*keys, f"{name}_total", f"{name}_count"])
        table = table.join(sums, keys=keys, join_type="left outer")
    zero = pa.scalar(_ZERO, MONEY)
    columns: dict[str, Any] = {}
    for name in ("opening_balance", "closing_balance", "debit_total", "credit_total"):
        columns[name] = pc.fill_null(table.column(name).cast(MONEY), zero)
    for name in ("debit_count", "credit_count"):
        columns[name] = pc.fill_null(table.column(name), 0).cast(pa.int32())
    closing_cny = pc.fill_null(
        table.column("closing_cny").cast(CNY_EXACT),
        pa.scalar(Decimal("0"), CNY_EXACT),
    )
    expected = pc.subtract(
        pc.add(columns["opening_balance"], columns["credit_total"]), columns["debit_total"]
    )
    agrees = pc.equal(expected.cast(MONEY), columns["closing_balance"])
    sends_txn = pc.is_in(table.column("source"), value_set=pa.array(TXN_SYSTEMS))
    reconciled = pc.if_else(sends_txn, agrees, pa.scalar(None, pa.bool_()))
    out = pa.table(
        {
            "crm_cust_id": table.column("crm_cust_id"),
            "source": table.column("source"),
            "acct_no": table.column("acct_no"),
            "kind": table.column("kind"),
            "currency": table.column("currency"),
            **columns,
            "reconciled": reconciled,
            "closing_cny": closing_cny,
        }
    )
    return out.sort_by([("crm_cust_id", "ascending"), ("source", "ascending"),
                        ("acct_no", "ascending")])  # fmt: skip


def customer_lines(customers: pa.Table, accounts: pa.Table) -> pa.Table:
    """One row per CRM customer: accounts, transactions and closing CNY total (pure)."""
    totals = accounts.group_by("crm_cust_id").aggregate(
        [("acct_no", "count"), ("debit_count", "sum"), ("credit_count", "sum"),
         ("closing_cny", "sum")]
    )  # fmt: skip
    table = customers.join(totals, keys="crm_cust_id", join_type="left outer")
    txn_count = pc.add(
        pc.fill_null(table.column("debit_count_sum"), 0),
        pc.fill_null(table.column("credit_count_sum"), 0),
    )
    return pa.table(
        {
            "crm_cust_id": table.column("crm_cust_id"),
            "name": table.column("name"),
            "id_type": table.column("id_type"),
            "id_no": table.column("id_no"),
            "accounts": pc.fill_null(table.column("acct_no_count"), 0).cast(pa.int32()),
            "txn_count": txn_count.cast(pa.int32()),
            "closing_cny": pc.fill_null(
                table.column("closing_cny_sum").cast(CNY_EXACT),
                pa.scalar(Decimal("0"), CNY_EXACT),
            ),
        }
    ).sort_by("crm_cust_id")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


def write_export(path: Path, customers: pa.Table, accounts: pa.Table, txns: pa.Table) -> str:
    """The statement printer's file (see the module docstring); returns its SHA-256.

    Written to a temporary name and renamed, so the printer never sees half a file and a
    rerun after a crash writes the very same bytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    by_account: dict[tuple[str, str], list[dict[str, Any]]] = {}
    ordered = txns.sort_by(
        [("source", "ascending"), ("acct_no", "ascending"), ("txn_date", "ascending"),
         ("txn_time", "ascending"), ("txn_id", "ascending")]
    )  # fmt: skip
    for row in ordered.to_pylist():
        by_account.setdefault((row["source"], row["acct_no"]), []).append(row)
    accounts_of: dict[int, list[dict[str, Any]]] = {}
    for row in accounts.to_pylist():
        accounts_of.setdefault(row["crm_cust_id"], []).append(row)
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for c in customers.to_pylist():
            head = [c["crm_cust_id"], c["name"], c["id_type"], c["id_no"]]
            writer.writerow(["H", *map(_text, head)] + [""] * (len(CSV_COLUMNS) - 5))
            for a in accounts_of.get(c["crm_cust_id"], []):
                writer.writerow(
                    ["A", *map(_text, head)]
                    + [_text(a[k]) for k in ("source", "acct_no", "kind", "currency",
                       "opening_balance", "closing_balance", "debit_total", "credit_total")]
                    + [""] * 8
                )  # fmt: skip
                for t in by_account.get((a["source"], a["acct_no"]), []):
                    writer.writerow(
                        ["T", *map(_text, head)]
                        + [_text(a[k]) for k in ("source", "acct_no", "kind", "currency")]
                        + [""] * 4
                        + [_text(t[k]) for k in ("txn_id", "txn_date", "txn_time", "dc",
                           "amount", "balance_after", "channel", "memo")]
                    )  # fmt: skip
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.replace(path)
    return digest


def produce_province(
    engine: Any, month: str, province: str, staging: str | Path, out: Path
) -> StatementSummary:
    """One province's statement, export file and purge; PipelineError on a problem."""
    done = purge_record(engine, month, province)
    if done is not None:
        return StatementSummary(
            province, "already produced", customers=done.statements, purged=done.rows_purged,
            file=Path(done.statement_file),
        )  # fmt: skip
    first, last = month_bounds(month)
    opening_date, closing_date = _dates(engine, province, first, last)
    opening = _balances(staging, province, opening_date)
    closing = _balances(staging, province, closing_date)
    customers, crm_accounts = crm_customers(engine, province)
    txns = month_transactions(engine, province, opening_date, closing_date)
    accounts = account_lines(crm_accounts, opening, closing, txns)
    statements = customer_lines(customers, accounts)
    keys = ["source", "acct_no"]
    mine = pc.is_in(composite_key(txns, keys), value_set=composite_key(accounts, keys))
    transactions = int(pc.sum(pc.cast(mine, pa.int64())).as_py() or 0)
    path = out / month / f"{province}.csv"
    digest = write_export(path, statements, accounts, txns.filter(mine))
    purged = record_statement(
        engine,
        month=month,
        province=province,
        statements=statements.to_pylist(),
        accounts=accounts.drop_columns(["closing_cny"]).to_pylist(),
        opening_date=opening_date,
        closing_date=closing_date,
        statement_file=str(path),
        file_sha256=digest,
    )
    log.info(
        "%s %s: %d statements, %d accounts, %d transactions; %d details purged; %s",
        province, month, statements.num_rows, accounts.num_rows,
        transactions, purged, path,
    )  # fmt: skip
    return StatementSummary(
        province,
        "produced",
        customers=statements.num_rows,
        accounts=accounts.num_rows,
        transactions=transactions,
        purged=purged,
        file=path,
        opening_date=opening_date,
        closing_date=closing_date,
    )


def produce_statements(
    month: str,
    provinces: Sequence[str] | None = None,
    warehouse_url: str | None = None,
    staging: str | Path | None = None,
    out: Path | None = None,
) -> list[StatementSummary]:
    """Every requested province's statement (default: those published in the month).

    One province's failure does not stop the others; its summary says why. The warehouse
    and the staging area are the argument, else the environment, else config
    (`common.settings`).
    """
    first, last = month_bounds(month)
    warehouse = Warehouse(settings.warehouse_url(warehouse_url))
    warehouse.upgrade()
    staging = settings.staging_url(staging)
    out = out or project_path(DEFAULT_OUT)
    wanted = list(provinces) if provinces else provinces_published_in(
        warehouse.engine, first, last
    )  # fmt: skip
    summaries = []
    for province in wanted:
        try:
            summaries.append(produce_province(warehouse.engine, month, province, staging, out))
        except PipelineError as exc:
            log.error("%s: %s", province, exc)
            summaries.append(StatementSummary(province, "failed", error=str(exc)))
    warehouse.dispose()
    return summaries
