"""Transactions of CRM customers, monthly statements and their purge log (issue 7).

Tables are declared on the metadata of `load.tables` (so the migrations' autogenerate
comparison sees them); they are created by migration 0002. Everything that touches the
warehouse for daily runs and statements is here, so that `crm_pipeline` stays free of SQL
(the style rule: SQLAlchemy only in `load/`).

- `crm_txn`: the transaction details of CRM customers' accounts, one row per
  (province, source, txn_id), kept until their month's statement is produced.
- `stg_txn`: a day's details staged in checkpointed chunks before they are published in
  one transaction (the same two-phase write as the CRM tables).
- `crm_txn_load`: one row per (province, business date) whose details are complete; a
  statement refuses a month in which a published daily batch has no such row.
- `crm_statement` / `crm_statement_account`: the monthly statement per CRM customer and
  per account (opening and closing balance, debit and credit totals).
- `crm_txn_purge`: the purge log: which month's details were cleared, how many, and the
  export file they were printed in (with its SHA-256).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    and_,
    delete,
    insert,
    literal,
    select,
)

from common.batch import FileCounts
from load.tables import (
    MONEY,
    MONEY_CNY,
    PUBLISHED,
    crm_account,
    crm_customer,
    crm_file_count,
    crm_load_batch,
    metadata,
)
from load.types import BigId

crm_txn = Table(
    "crm_txn",
    metadata,
    Column("province", String(8), primary_key=True),
    Column("source", String(3), primary_key=True),
    Column("txn_id", String(), primary_key=True),
    Column("acct_no", String(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("txn_date", Date),
    Column("txn_time", String(6)),
    Column("dc", String(1), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("channel", String()),
    Column("balance_after", MONEY),
    Column("memo", String()),
    Column("batch_id", BigId, nullable=False),
    Index("ix_crm_txn_day", "province", "business_date"),
    Index("ix_crm_txn_cust", "crm_cust_id"),
)

stg_txn = Table(
    "stg_txn",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", String(3), primary_key=True),
    Column("txn_id", String(), primary_key=True),
    Column("acct_no", String(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("txn_date", Date),
    Column("txn_time", String(6)),
    Column("dc", String(1), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("channel", String()),
    Column("balance_after", MONEY),
    Column("memo", String()),
)

crm_txn_load = Table(
    "crm_txn_load",
    metadata,
    Column("province", String(8), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("batch_id", BigId, nullable=False),
    Column("read", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("set_aside", Integer, nullable=False),
    Column("filtered", Integer, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

crm_statement = Table(
    "crm_statement",
    metadata,
    Column("statement_month", String(7), primary_key=True),  # YYYY-MM
    Column("province", String(8), primary_key=True),
    Column("crm_cust_id", BigId, primary_key=True, autoincrement=False),
    Column("name", String()),
    Column("id_type", String(8), nullable=False),
    Column("id_no", String(), nullable=False),
    Column("accounts", Integer, nullable=False),
    Column("txn_count", Integer, nullable=False),
    Column("closing_cny", MONEY_CNY, nullable=False),
    Column("opening_date", Date),
    Column("closing_date", Date, nullable=False),
    Column("produced_at", DateTime(timezone=True), nullable=False),
)

crm_statement_account = Table(
    "crm_statement_account",
    metadata,
    Column("statement_month", String(7), primary_key=True),
    Column("province", String(8), primary_key=True),
    Column("source", String(3), primary_key=True),
    Column("acct_no", String(), primary_key=True),
    Column("crm_cust_id", BigId, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("opening_balance", MONEY, nullable=False),
    Column("closing_balance", MONEY, nullable=False),
    Column("debit_total", MONEY, nullable=False),
    Column("credit_total", MONEY, nullable=False),
    Column("debit_count", Integer, nullable=False),
    Column("credit_count", Integer, nullable=False),
    # opening + credits - debits == closing; null for systems that send no TXN (LON, FND).
    Column("reconciled", Boolean),
    Index("ix_crm_statement_account_cust", "crm_cust_id"),
)

crm_txn_purge = Table(
    "crm_txn_purge",
    metadata,
    Column("purge_id", BigId, primary_key=True, autoincrement=True),
    Column("statement_month", String(7), nullable=False),
    Column("province", String(8), nullable=False),
    Column("first_business_date", Date),
    Column("last_business_date", Date, nullable=False),
    Column("rows_purged", Integer, nullable=False),
    Column("statements", Integer, nullable=False),
    Column("statement_file", String(), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("statement_month", "province", name="uq_crm_txn_purge_month"),
    sqlite_autoincrement=True,
)

TXN_TABLES = (crm_txn, stg_txn, crm_txn_load, crm_statement, crm_statement_account, crm_txn_purge)
_IN_CHUNK = 2_000  # values per IN list (well under SQLite's and psycopg's parameter limits)


# --- business dates ------------------------------------------------------------------------


def published_dates(engine: Engine, province: str) -> list[date]:
    """Every business date of `province` with a published batch (any mode), ascending."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date)
            .where(crm_load_batch.c.province == province, crm_load_batch.c.status == PUBLISHED)
            .distinct()
            .order_by(crm_load_batch.c.business_date)
        ).all()
    return [row[0] for row in rows]


def attempted_dates(engine: Engine, province: str, after: date, before: date) -> list[date]:
    """Business dates strictly between `after` and `before` with a batch that was begun."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date)
            .where(
                crm_load_batch.c.province == province,
                crm_load_batch.c.business_date > after,
                crm_load_batch.c.business_date < before,
            )
            .distinct()
        ).all()
    return sorted(row[0] for row in rows)


def published_batches(
    engine: Engine, province: str, first: date, last: date, mode: str | None = None
) -> dict[date, int]:
    """{business date: published batch id} of `province` in [first, last]."""
    where = [
        crm_load_batch.c.province == province,
        crm_load_batch.c.status == PUBLISHED,
        crm_load_batch.c.business_date >= first,
        crm_load_batch.c.business_date <= last,
    ]
    if mode is not None:
        where.append(crm_load_batch.c.mode == mode)
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date, crm_load_batch.c.batch_id).where(*where)
        ).all()
    return {row[0]: int(row[1]) for row in rows}


def provinces_published_in(engine: Engine, first: date, last: date) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.province)
            .where(
                crm_load_batch.c.status == PUBLISHED,
                crm_load_batch.c.business_date >= first,
                crm_load_batch.c.business_date <= last,
            )
            .distinct()
        ).all()
    return sorted(row[0] for row in rows)


# --- a day's transactions --------------------------------------------------------------------


def crm_account_ids(engine: Engine, province: str, accounts: pa.Table) -> pa.Table:
    """(source, acct_no, crm_cust_id) of those `accounts` that are CRM customers' accounts.

    `accounts` has `source` and `acct_no`; only the distinct pairs are looked up, in IN
    lists of a bounded size, so a province of millions of accounts is never read whole.
    """
    found: list[tuple[str, str, int]] = []
    pairs = accounts.select(["source", "acct_no"]).group_by(["source", "acct_no"]).aggregate([])
    by_source: dict[str, list[str]] = {}
    for source, acct_no in zip(
        pairs.column("source").to_pylist(), pairs.column("acct_no").to_pylist(), strict=True
    ):
        by_source.setdefault(source, []).append(acct_no)
    with engine.connect() as conn:
        for source, numbers in sorted(by_source.items()):
            for start in range(0, len(numbers), _IN_CHUNK):
                chunk = numbers[start : start + _IN_CHUNK]
                rows = conn.execute(
                    select(crm_account.c.acct_no, crm_account.c.crm_cust_id).where(
                        crm_account.c.province == province,
                        crm_account.c.source == source,
                        crm_account.c.acct_no.in_(chunk),
                    )
                ).all()
                found += [(source, row[0], int(row[1])) for row in rows]
    return pa.table(
        {
            "source": pa.array([f[0] for f in found], pa.string()),
            "acct_no": pa.array([f[1] for f in found], pa.string()),
            "crm_cust_id": pa.array([f[2] for f in found], pa.int64()),
        }
    )


def txn_loaded(engine: Engine, province: str, business_date: date) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                select(crm_txn_load.c.batch_id).where(
                    crm_txn_load.c.province == province,
                    crm_txn_load.c.business_date == business_date,
                )
            ).first()
            is not None
        )


def txn_loaded_dates(engine: Engine, province: str, first: date, last: date) -> set[date]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_txn_load.c.business_date).where(
                crm_txn_load.c.province == province,
                crm_txn_load.c.business_date >= first,
                crm_txn_load.c.business_date <= last,
            )
        ).all()
    return {row[0] for row in rows}


def publish_transactions(
    engine: Engine,
    *,
    province: str,
    business_date: date,
    batch_id: int,
    txns: pa.Table,
    files: Iterable[FileCounts],
    chunk_rows: int,
    on_chunk: Callable[[str, int], None] | None = None,
) -> int:
    """Stage a day's CRM transactions in checkpointed chunks, then publish them at once.

    `txns` has the columns of `stg_txn` except `batch_id`. The publication (one
    transaction) replaces the province's details of `business_date`, records the TXN
    files' counts with the day's batch, and marks the day's details complete in
    `crm_txn_load`. A crash before it leaves the staged chunks for the restart (which
    skips the committed ones); a crash after it leaves nothing to redo.
    """
    from load.bulk import stage  # not at import time: load.tables imports this module
    from load.control import now

    staged = stage(
        engine, stg_txn, txns, batch_id=batch_id, chunk_rows=chunk_rows, on_chunk=on_chunk
    )
    files = list(files)
    columns = [c.name for c in crm_txn.columns if c.name != "province"]
    with engine.begin() as conn:
        conn.execute(
            delete(crm_txn).where(
                crm_txn.c.province == province, crm_txn.c.business_date == business_date
            )
        )
        conn.execute(
            insert(crm_txn).from_select(
                ["province", *columns],
                select(
                    literal(province, String(8)).label("province"),
                    *[stg_txn.c[c] for c in columns],
                ).where(stg_txn.c.batch_id == batch_id),
            )
        )
        if files:
            conn.execute(
                delete(crm_file_count).where(
                    crm_file_count.c.batch_id == batch_id,
                    crm_file_count.c.file.in_([f.file for f in files]),
                )
            )
            conn.execute(
                insert(crm_file_count),
                [
                    {
                        "batch_id": batch_id,
                        "file": f.file,
                        "branch": f.branch,
                        "system": f.system,
                        "entity": f.entity,
                        "read": f.read,
                        "kept": f.kept,
                        "set_aside": f.set_aside,
                        "filtered": f.filtered,
                        "flagged": f.flagged,
                    }
                    for f in files
                ],
            )
        conn.execute(
            delete(crm_txn_load).where(
                crm_txn_load.c.province == province,
                crm_txn_load.c.business_date == business_date,
            )
        )
        conn.execute(
            insert(crm_txn_load).values(
                province=province,
                business_date=business_date,
                batch_id=batch_id,
                read=sum(f.read for f in files),
                kept=sum(f.kept for f in files),
                set_aside=sum(f.set_aside for f in files),
                filtered=sum(f.filtered for f in files),
                loaded_at=now(),
            )
        )
        conn.execute(delete(stg_txn).where(stg_txn.c.batch_id == batch_id))
    return staged.rows


# --- statements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeRecord:
    statement_month: str
    province: str
    rows_purged: int
    statements: int
    statement_file: str
    file_sha256: str
    purged_at: datetime


def purge_record(engine: Engine, month: str, province: str) -> PurgeRecord | None:
    """The purge of (month, province), if its statement was produced."""
    with engine.connect() as conn:
        row = conn.execute(
            select(crm_txn_purge).where(
                crm_txn_purge.c.statement_month == month, crm_txn_purge.c.province == province
            )
        ).first()
    if row is None:
        return None
    return PurgeRecord(
        row.statement_month,
        row.province,
        row.rows_purged,
        row.statements,
        row.statement_file,
        row.file_sha256,
        row.purged_at,
    )


def _arrow(rows: Sequence[Any], schema: pa.Schema) -> pa.Table:
    return pa.table(
        {f.name: pa.array([row[i] for row in rows], f.type) for i, f in enumerate(schema)},
        schema=schema,
    )


_MONEY = pa.decimal128(20, 2)

CUSTOMER_COLUMNS = pa.schema(
    [
        ("crm_cust_id", pa.int64()),
        ("name", pa.string()),
        ("id_type", pa.string()),
        ("id_no", pa.string()),
        ("qualified", pa.bool_()),
    ]
)
ACCOUNT_COLUMNS = pa.schema(
    [
        ("crm_cust_id", pa.int64()),
        ("source", pa.string()),
        ("acct_no", pa.string()),
        ("kind", pa.string()),
        ("currency", pa.string()),
    ]
)
TXN_COLUMNS = pa.schema(
    [
        ("source", pa.string()),
        ("acct_no", pa.string()),
        ("txn_id", pa.string()),
        ("business_date", pa.date32()),
        ("txn_date", pa.date32()),
        ("txn_time", pa.string()),
        ("dc", pa.string()),
        ("amount", _MONEY),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("balance_after", _MONEY),
        ("memo", pa.string()),
    ]
)


def crm_customers(engine: Engine, province: str) -> tuple[pa.Table, pa.Table]:
    """(CRM customers, their accounts) of a province, as the CRM sees them now."""
    with engine.connect() as conn:
        customers = conn.execute(
            select(
                crm_customer.c.crm_cust_id,
                crm_customer.c.name,
                crm_customer.c.id_type,
                crm_customer.c.id_no,
                crm_customer.c.qualified,
            )
            .where(crm_customer.c.province == province)
            .order_by(crm_customer.c.crm_cust_id)
        ).all()
        accounts = conn.execute(
            select(
                crm_account.c.crm_cust_id,
                crm_account.c.source,
                crm_account.c.acct_no,
                crm_account.c.kind,
                crm_account.c.currency,
            )
            .where(crm_account.c.province == province)
            .order_by(crm_account.c.crm_cust_id, crm_account.c.source, crm_account.c.acct_no)
        ).all()
    return _arrow(customers, CUSTOMER_COLUMNS), _arrow(accounts, ACCOUNT_COLUMNS)


def month_transactions(engine: Engine, province: str, after: date | None, last: date) -> pa.Table:
    """The province's details delivered by business dates in (after, last]."""
    where = [crm_txn.c.province == province, crm_txn.c.business_date <= last]
    if after is not None:
        where.append(crm_txn.c.business_date > after)
    with engine.connect() as conn:
        rows = conn.execute(
            select(*[crm_txn.c[f.name] for f in TXN_COLUMNS])
            .where(*where)
            .order_by(crm_txn.c.source, crm_txn.c.acct_no, crm_txn.c.txn_date, crm_txn.c.txn_id)
        ).all()
    return _arrow(rows, TXN_COLUMNS)


def record_statement(
    engine: Engine,
    *,
    month: str,
    province: str,
    statements: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    opening_date: date | None,
    closing_date: date,
    statement_file: str,
    file_sha256: str,
) -> int:
    """Write the month's statements, purge the month's details and log it, atomically.

    One transaction: either the statement rows, the purge and its log entry are all
    there, or none is (a crash leaves the details for the rerun). Returns rows purged.
    """
    from load.control import now

    produced = now()
    with engine.begin() as conn:
        for table in (crm_statement, crm_statement_account):
            conn.execute(
                delete(table).where(table.c.statement_month == month, table.c.province == province)
            )
        if statements:
            conn.execute(
                insert(crm_statement),
                [
                    {
                        **s,
                        "statement_month": month,
                        "province": province,
                        "opening_date": opening_date,
                        "closing_date": closing_date,
                        "produced_at": produced,
                    }
                    for s in statements
                ],
            )
        if accounts:
            conn.execute(
                insert(crm_statement_account),
                [{**a, "statement_month": month, "province": province} for a in accounts],
            )
        where = [crm_txn.c.province == province, crm_txn.c.business_date <= closing_date]
        if opening_date is not None:
            where.append(crm_txn.c.business_date > opening_date)
        purged = conn.execute(delete(crm_txn).where(and_(*where))).rowcount
        conn.execute(
            insert(crm_txn_purge).values(
                statement_month=month,
                province=province,
                first_business_date=opening_date,
                last_business_date=closing_date,
                rows_purged=int(purged),
                statements=len(statements),
                statement_file=statement_file,
                file_sha256=file_sha256,
                purged_at=produced,
            )
        )
    return int(purged)
