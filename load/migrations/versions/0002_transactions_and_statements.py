"""Transactions of CRM customers, monthly statements and the purge log (issue 7).

`stg_txn` is UNLOGGED on PostgreSQL like the other staging tables (see 0001): a day's
details are staged there in checkpointed chunks and published into `crm_txn` in one
transaction; after a server crash an emptied staging table is simply staged again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import load.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _staging_prefixes() -> list[str]:
    return ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []


def _txn_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("acct_no", sa.String(), nullable=False),
        sa.Column("crm_cust_id", _id(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("txn_date", sa.Date(), nullable=True),
        sa.Column("txn_time", sa.String(length=6), nullable=True),
        sa.Column("dc", sa.String(length=1), nullable=False),
        sa.Column("amount", load.types.Amount(20, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("balance_after", load.types.Amount(20, 2), nullable=True),
        sa.Column("memo", sa.String(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "crm_txn",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("txn_id", sa.String(), nullable=False),
        *_txn_columns(),
        sa.Column("batch_id", _id(), nullable=False),
        sa.PrimaryKeyConstraint("province", "source", "txn_id", name=op.f("pk_crm_txn")),
    )
    with op.batch_alter_table("crm_txn", schema=None) as batch_op:
        batch_op.create_index("ix_crm_txn_day", ["province", "business_date"], unique=False)
        batch_op.create_index("ix_crm_txn_cust", ["crm_cust_id"], unique=False)

    op.create_table(
        "stg_txn",
        sa.Column("batch_id", _id(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("txn_id", sa.String(), nullable=False),
        *_txn_columns(),
        sa.PrimaryKeyConstraint("batch_id", "source", "txn_id", name=op.f("pk_stg_txn")),
        prefixes=_staging_prefixes(),
    )

    op.create_table(
        "crm_txn_load",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("batch_id", _id(), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("set_aside", sa.Integer(), nullable=False),
        sa.Column("filtered", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("province", "business_date", name=op.f("pk_crm_txn_load")),
    )

    op.create_table(
        "crm_statement",
        sa.Column("statement_month", sa.String(length=7), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("crm_cust_id", _id(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("id_type", sa.String(length=8), nullable=False),
        sa.Column("id_no", sa.String(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("txn_count", sa.Integer(), nullable=False),
        sa.Column("closing_cny", load.types.Amount(38, 8), nullable=False),
        sa.Column("opening_date", sa.Date(), nullable=True),
        sa.Column("closing_date", sa.Date(), nullable=False),
        sa.Column("produced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "statement_month", "province", "crm_cust_id", name=op.f("pk_crm_statement")
        ),
    )

    op.create_table(
        "crm_statement_account",
        sa.Column("statement_month", sa.String(length=7), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("acct_no", sa.String(), nullable=False),
        sa.Column("crm_cust_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("opening_balance", load.types.Amount(20, 2), nullable=False),
        sa.Column("closing_balance", load.types.Amount(20, 2), nullable=False),
        sa.Column("debit_total", load.types.Amount(20, 2), nullable=False),
        sa.Column("credit_total", load.types.Amount(20, 2), nullable=False),
        sa.Column("debit_count", sa.Integer(), nullable=False),
        sa.Column("credit_count", sa.Integer(), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint(
            "statement_month",
            "province",
            "source",
            "acct_no",
            name=op.f("pk_crm_statement_account"),
        ),
    )
    with op.batch_alter_table("crm_statement_account", schema=None) as batch_op:
        batch_op.create_index("ix_crm_statement_account_cust", ["crm_cust_id"], unique=False)

    op.create_table(
        "crm_txn_purge",
        sa.Column("purge_id", _id(), autoincrement=True, nullable=False),
        sa.Column("statement_month", sa.String(length=7), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("first_business_date", sa.Date(), nullable=True),
        sa.Column("last_business_date", sa.Date(), nullable=False),
        sa.Column("rows_purged", sa.Integer(), nullable=False),
        sa.Column("statements", sa.Integer(), nullable=False),
        sa.Column("statement_file", sa.String(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purge_id", name=op.f("pk_crm_txn_purge")),
        sa.UniqueConstraint("statement_month", "province", name="uq_crm_txn_purge_month"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    for table in (
        "crm_txn_purge",
        "crm_statement_account",
        "crm_statement",
        "crm_txn_load",
        "stg_txn",
        "crm_txn",
    ):
        op.drop_table(table)
