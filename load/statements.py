"""Monthly statements: what they are computed from, and their atomic record and purge.

`crm_customers` and `month_transactions` read a province's CRM customers, accounts and
the month's details as Arrow tables (crm_pipeline computes the statements from them);
`record_statement` writes the statements, purges the month's details and logs the purge
in one transaction; `purge_record` says whether a month is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, and_, delete, insert, select

from common.schema import MONEY
from load.control import now
from load.tables import (
    crm_account,
    crm_customer,
    crm_statement,
    crm_statement_account,
    crm_txn,
    crm_txn_purge,
)


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
        ("amount", MONEY),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("balance_after", MONEY),
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
