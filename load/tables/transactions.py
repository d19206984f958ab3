"""Transactions of CRM customers, monthly statements and their purge log (issue 7).

Created by migration 0002.

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

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from load.tables.base import MONEY, MONEY_CNY, BigId, metadata

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
