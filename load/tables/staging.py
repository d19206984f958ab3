"""The `stg_*` staging tables, keyed by `batch_id` (UNLOGGED on PostgreSQL; see migrations).

A batch is bulk-written here in committed chunks (load.bulk), then published into the
`crm_*` tables in one transaction (load.publish), and its rows deleted.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    String,
    Table,
    Text,
)

from load.tables.base import MONEY, MONEY_CNY, BigId, ident, metadata

stg_customer = Table(
    "stg_customer",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("cust_key", ident(), primary_key=True),
    Column("cust_type", ident(1), nullable=False),
    Column("id_type", ident(8), nullable=False),
    Column("id_no", ident(), nullable=False),
    Column("id_valid", Boolean, nullable=False),
    Column("name", String()),
    Column("master_source", String(3), nullable=False),
    Column("master_cust_no", String(), nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("score", MONEY, nullable=False),
    Column("formula_id", String(), nullable=False),
    Column("qualified", Boolean, nullable=False),
    Column("crm_cust_id", BigId),  # set once the batch's CRM customers are resolved
)

stg_customer_source = Table(
    "stg_customer_source",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("source_cust_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId),  # NULL: a removed key (`delta`)
    Column("role", String(8), nullable=False),
    Column("delta", String(8)),  # see below
)

stg_contact = Table(
    "stg_contact",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("source_cust_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId),  # NULL: a removed key (`delta`)
    Column("phone", String()),
    Column("mobile", String()),
    Column("address", String()),
    Column("postcode", String(10)),
    Column("delta", String(8)),
)

stg_account = Table(
    "stg_account",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("source", ident(3), primary_key=True),
    Column("acct_no", ident(), primary_key=True),
    Column("crm_cust_id", BigId),  # NULL: a removed key (`delta`)
    Column("source_cust_no", ident(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("balance_cny", MONEY_CNY, nullable=False),
    Column("status", String(1), nullable=False),
    Column("in_scope", Boolean, nullable=False),
    Column("open_date", Date),
    Column("maturity_date", Date),
    Column("delta", String(8)),
)

stg_reject = Table(
    "stg_reject",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("file", String(), nullable=False),
    Column("line", Integer, nullable=False),
    Column("raw", Text, nullable=False),
    Column("reason", String(), nullable=False),
    Column("field", String()),
    Column("branch", String(8), nullable=False),
)

# `delta` of a staged source record, contact or account (migration 0012): NULL when the
# batch sends its customers' rows whole, else the row's mark (common.batch.DELTA_*).
STAGING_TABLES = (stg_customer, stg_customer_source, stg_contact, stg_account, stg_reject)
