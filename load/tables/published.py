"""The published `crm_*` tables: what the downstream CRM imports (see docs/warehouse.md).

`crm_load_batch` records every batch and its state; only `published` batches are visible
to the CRM. A batch is staged (load.tables.staging) and then published into these tables
in one transaction (load.publish).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from load.tables.base import MONEY, MONEY_CNY, BigId, ident, metadata

# Batch states. Only `published` is visible to the CRM.
STAGING, PUBLISHED, SUPERSEDED, ABANDONED = "staging", "published", "superseded", "abandoned"

crm_load_batch = Table(
    "crm_load_batch",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("province", String(8), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("run_id", BigId),
    Column("fingerprint", String(), nullable=False),
    Column("inputs", String()),  # the run's input fingerprint (crm_pipeline.run_identity)
    Column("customers", Integer),
    Column("qualified", Integer),
    Column("accounts", Integer),
    Column("rejects", Integer),
    Index("ix_crm_load_batch_key", "business_date", "province", "mode"),
    # At most one published batch per (date, province, mode): `force` supersedes the old
    # one in the same transaction that publishes the new one.
    Index(
        "ux_crm_load_batch_published",
        "business_date",
        "province",
        "mode",
        unique=True,
        postgresql_where=text("status = 'published'"),
        sqlite_where=text("status = 'published'"),
    ),
    sqlite_autoincrement=True,
)

crm_customer_key = Table(
    "crm_customer_key",
    metadata,
    # Never reused: an identity on PostgreSQL, AUTOINCREMENT (not plain rowid) on SQLite.
    Column("crm_cust_id", BigId, primary_key=True, autoincrement=True),
    Column("province", String(8), nullable=False),
    Column("cust_type", ident(1), nullable=False),
    Column("id_type", ident(8), nullable=False),
    Column("id_no", ident(), nullable=False),
    Column("batch_id", BigId, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("province", "cust_type", "id_type", "id_no", name="uq_crm_customer_key"),
    sqlite_autoincrement=True,
)

crm_customer = Table(
    "crm_customer",
    metadata,
    Column("crm_cust_id", BigId, primary_key=True, autoincrement=False),
    Column("province", String(8), nullable=False),
    Column("cust_type", String(1), nullable=False),
    Column("name", String()),
    Column("id_type", String(8), nullable=False),
    Column("id_no", String(), nullable=False),
    Column("id_valid", Boolean, nullable=False),
    Column("master_source", String(3), nullable=False),
    Column("master_cust_no", String(), nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("score", MONEY, nullable=False),
    Column("formula_id", String(), nullable=False),
    Column("qualified", Boolean, nullable=False),
    Column("batch_id", BigId, nullable=False),
    Column("first_batch_id", BigId, nullable=False),
    Index("ix_crm_customer_province", "province"),
)

crm_customer_source = Table(
    "crm_customer_source",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("role", String(8), nullable=False),
    Column("batch_id", BigId, nullable=False),
    # The partition key last, as crm_account's (migration 0006).
    PrimaryKeyConstraint("source_cust_no", "source", "province", name="pk_crm_customer_source"),
    Index("ix_crm_customer_source_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0004), as crm_account.
    postgresql_partition_by="LIST (province)",
)

crm_contact = Table(
    "crm_contact",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("phone", String()),
    Column("mobile", String()),
    Column("address", String()),
    Column("postcode", String(10)),
    Column("batch_id", BigId, nullable=False),
    PrimaryKeyConstraint("source_cust_no", "source", "province", name="pk_crm_contact"),
    Index("ix_crm_contact_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0004), as crm_account.
    postgresql_partition_by="LIST (province)",
)

crm_account = Table(
    "crm_account",
    metadata,
    Column("province", String(8), nullable=False),
    Column("source", ident(3), nullable=False),
    Column("acct_no", ident(), nullable=False),
    Column("crm_cust_id", BigId, nullable=False),
    Column("source_cust_no", ident(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance", MONEY, nullable=False),
    Column("balance_cny", MONEY_CNY, nullable=False),
    Column("status", String(1), nullable=False),
    Column("in_scope", Boolean, nullable=False),
    Column("open_date", Date),
    Column("maturity_date", Date),
    Column("batch_id", BigId, nullable=False),
    # The partition key `province` last (migration 0006): it is constant within a
    # partition. A province's first load builds this key, in this order (the parent's,
    # which ATTACH needs), on its own table (load/batch_tables.py `prepare_attach`), where
    # sorting by province and source first took twice as long (10M accounts: 10.8 s
    # against 5.1 s).
    PrimaryKeyConstraint("acct_no", "source", "province", name="pk_crm_account"),
    Index("ix_crm_account_cust", "crm_cust_id"),
    # One partition per province on PostgreSQL (migration 0003): a province's first
    # publication attaches its staged accounts instead of copying them (load/batch_tables.py).
    postgresql_partition_by="LIST (province)",
)

crm_reject = Table(
    "crm_reject",
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

crm_file_count = Table(
    "crm_file_count",
    metadata,
    Column("batch_id", BigId, primary_key=True, autoincrement=False),
    Column("file", String(), primary_key=True),
    Column("branch", String(8), nullable=False),
    Column("system", String(3), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("read", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("set_aside", Integer, nullable=False),
    Column("filtered", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
)

crm_formula = Table(
    "crm_formula",
    metadata,
    Column("province", String(8), primary_key=True),
    Column("cust_type", String(1), primary_key=True),
    Column("formula_id", String(), primary_key=True),
    Column("name", String(), nullable=False),
    Column("content_hash", String(), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("first_batch_id", BigId, nullable=False),
    Column("last_batch_id", BigId, nullable=False),
)
