"""Initial warehouse schema: CRM tables, stable-id registry, control data, staging.

Staging tables (`stg_*`) are UNLOGGED on PostgreSQL: they are rewritten on every load, and
skipping the WAL roughly halves the cost of the bulk COPY. After a server crash PostgreSQL
empties them; `load.bulk` then sees that the rows behind a checkpoint are gone and stages
the table again instead of trusting the checkpoint.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 08:36:27.124705
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import load.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _staging_prefixes() -> list[str]:
    return ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []


def upgrade() -> None:
    op.create_table(
        "crm_account",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("acct_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", load.types.Amount(20, 2), nullable=False),
        sa.Column("balance_cny", load.types.Amount(38, 8), nullable=False),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("open_date", sa.Date(), nullable=True),
        sa.Column("maturity_date", sa.Date(), nullable=True),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("province", "source", "acct_no", name=op.f("pk_crm_account")),
    )
    with op.batch_alter_table("crm_account", schema=None) as batch_op:
        batch_op.create_index("ix_crm_account_cust", ["crm_cust_id"], unique=False)

    op.create_table(
        "crm_contact",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("mobile", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("postcode", sa.String(length=10), nullable=True),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint(
            "province", "source", "source_cust_no", name=op.f("pk_crm_contact")
        ),
    )
    with op.batch_alter_table("crm_contact", schema=None) as batch_op:
        batch_op.create_index("ix_crm_contact_cust", ["crm_cust_id"], unique=False)

    op.create_table(
        "crm_customer",
        sa.Column(
            "crm_cust_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("cust_type", sa.String(length=1), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("id_type", sa.String(length=8), nullable=False),
        sa.Column("id_no", sa.String(), nullable=False),
        sa.Column("id_valid", sa.Boolean(), nullable=False),
        sa.Column("master_source", sa.String(length=3), nullable=False),
        sa.Column("master_cust_no", sa.String(), nullable=False),
        sa.Column("source_count", sa.Integer(), nullable=False),
        sa.Column("score", load.types.Amount(20, 2), nullable=False),
        sa.Column("formula_id", sa.String(), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "first_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("crm_cust_id", name=op.f("pk_crm_customer")),
    )
    with op.batch_alter_table("crm_customer", schema=None) as batch_op:
        batch_op.create_index("ix_crm_customer_province", ["province"], unique=False)

    op.create_table(
        "crm_customer_key",
        sa.Column(
            "crm_cust_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("cust_type", sa.String(length=1), nullable=False),
        sa.Column("id_type", sa.String(length=8), nullable=False),
        sa.Column("id_no", sa.String(), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm_cust_id", name=op.f("pk_crm_customer_key")),
        sa.UniqueConstraint(
            "province", "cust_type", "id_type", "id_no", name="uq_crm_customer_key"
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "crm_customer_source",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint(
            "province", "source", "source_cust_no", name=op.f("pk_crm_customer_source")
        ),
    )
    with op.batch_alter_table("crm_customer_source", schema=None) as batch_op:
        batch_op.create_index("ix_crm_customer_source_cust", ["crm_cust_id"], unique=False)

    op.create_table(
        "crm_file_count",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("branch", sa.String(length=8), nullable=False),
        sa.Column("system", sa.String(length=3), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("set_aside", sa.Integer(), nullable=False),
        sa.Column("filtered", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "file", name=op.f("pk_crm_file_count")),
    )
    op.create_table(
        "crm_formula",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("cust_type", sa.String(length=1), nullable=False),
        sa.Column("formula_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "first_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "last_batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.PrimaryKeyConstraint("province", "cust_type", "formula_id", name=op.f("pk_crm_formula")),
    )
    op.create_table(
        "crm_load_batch",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=True),
        sa.Column("qualified", sa.Integer(), nullable=True),
        sa.Column("accounts", sa.Integer(), nullable=True),
        sa.Column("rejects", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_crm_load_batch")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("crm_load_batch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_load_batch_key", ["business_date", "province", "mode"], unique=False
        )
        batch_op.create_index(
            "ux_crm_load_batch_published",
            ["business_date", "province", "mode"],
            unique=True,
            postgresql_where=sa.text("status = 'published'"),
            sqlite_where=sa.text("status = 'published'"),
        )

    op.create_table(
        "crm_reject",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=True),
        sa.Column("branch", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_crm_reject")),
    )
    op.create_table(
        "crm_run",
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("host", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_crm_run")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("crm_run", schema=None) as batch_op:
        batch_op.create_index("ix_crm_run_key", ["business_date", "province", "mode"], unique=False)

    op.create_table(
        "stg_account",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("acct_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", load.types.Amount(20, 2), nullable=False),
        sa.Column("balance_cny", load.types.Amount(38, 8), nullable=False),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("open_date", sa.Date(), nullable=True),
        sa.Column("maturity_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "source", "acct_no", name=op.f("pk_stg_account")),
        prefixes=_staging_prefixes(),
    )
    op.create_table(
        "stg_contact",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("mobile", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("postcode", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint(
            "batch_id", "source", "source_cust_no", name=op.f("pk_stg_contact")
        ),
        prefixes=_staging_prefixes(),
    )
    op.create_table(
        "stg_customer",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("cust_key", sa.String(), nullable=False),
        sa.Column("cust_type", sa.String(length=1), nullable=False),
        sa.Column("id_type", sa.String(length=8), nullable=False),
        sa.Column("id_no", sa.String(), nullable=False),
        sa.Column("id_valid", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("master_source", sa.String(length=3), nullable=False),
        sa.Column("master_cust_no", sa.String(), nullable=False),
        sa.Column("source_count", sa.Integer(), nullable=False),
        sa.Column("score", load.types.Amount(20, 2), nullable=False),
        sa.Column("formula_id", sa.String(), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.PrimaryKeyConstraint("batch_id", "cust_key", name=op.f("pk_stg_customer")),
        prefixes=_staging_prefixes(),
    )
    op.create_table(
        "stg_customer_source",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=3), nullable=False),
        sa.Column("source_cust_no", sa.String(), nullable=False),
        sa.Column(
            "crm_cust_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint(
            "batch_id", "source", "source_cust_no", name=op.f("pk_stg_customer_source")
        ),
        prefixes=_staging_prefixes(),
    )
    op.create_table(
        "stg_reject",
        sa.Column(
            "batch_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("file", sa.String(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=True),
        sa.Column("branch", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "seq", name=op.f("pk_stg_reject")),
        prefixes=_staging_prefixes(),
    )
    op.create_table(
        "crm_step",
        sa.Column(
            "step_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("read_count", sa.Integer(), nullable=True),
        sa.Column("kept_count", sa.Integer(), nullable=True),
        sa.Column("set_aside_count", sa.Integer(), nullable=True),
        sa.Column("filtered_count", sa.Integer(), nullable=True),
        sa.Column("written_count", sa.Integer(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["crm_run.run_id"], name=op.f("fk_crm_step_run_id_crm_run")
        ),
        sa.PrimaryKeyConstraint("step_id", name=op.f("pk_crm_step")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("crm_step", schema=None) as batch_op:
        batch_op.create_index("ix_crm_step_run", ["run_id"], unique=False)

    op.create_table(
        "crm_checkpoint",
        sa.Column(
            "checkpoint_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("step_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"], ["crm_step.step_id"], name=op.f("fk_crm_checkpoint_step_id_crm_step")
        ),
        sa.PrimaryKeyConstraint("checkpoint_id", name=op.f("pk_crm_checkpoint")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("crm_checkpoint", schema=None) as batch_op:
        batch_op.create_index("ix_crm_checkpoint_batch", ["batch_id"], unique=False)
        batch_op.create_index("ix_crm_checkpoint_step", ["step_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("crm_checkpoint", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_checkpoint_step")
        batch_op.drop_index("ix_crm_checkpoint_batch")

    op.drop_table("crm_checkpoint")
    with op.batch_alter_table("crm_step", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_step_run")

    op.drop_table("crm_step")
    op.drop_table("stg_reject")
    op.drop_table("stg_customer_source")
    op.drop_table("stg_customer")
    op.drop_table("stg_contact")
    op.drop_table("stg_account")
    with op.batch_alter_table("crm_run", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_run_key")

    op.drop_table("crm_run")
    op.drop_table("crm_reject")
    with op.batch_alter_table("crm_load_batch", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_crm_load_batch_published",
            postgresql_where=sa.text("status = 'published'"),
            sqlite_where=sa.text("status = 'published'"),
        )
        batch_op.drop_index("ix_crm_load_batch_key")

    op.drop_table("crm_load_batch")
    op.drop_table("crm_formula")
    op.drop_table("crm_file_count")
    with op.batch_alter_table("crm_customer_source", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_customer_source_cust")

    op.drop_table("crm_customer_source")
    op.drop_table("crm_customer_key")
    with op.batch_alter_table("crm_customer", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_customer_province")

    op.drop_table("crm_customer")
    with op.batch_alter_table("crm_contact", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_contact_cust")

    op.drop_table("crm_contact")
    with op.batch_alter_table("crm_account", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_account_cust")

    op.drop_table("crm_account")
