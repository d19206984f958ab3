"""The data-quality gate (issue 17): each evaluation's verdict and metrics, the
expectations that failed, and the operators' acceptances of held nights
(load/tables/quality.py, docs/quality.md).

Revision ID: 0009
Revises: 0011
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crm_quality_result",
        sa.Column("result_id", _id(), autoincrement=True, nullable=False),
        sa.Column("run_id", _id(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("inputs", sa.String(), nullable=True),
        sa.Column("verdict", sa.String(length=12), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("docs", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("result_id", name=op.f("pk_crm_quality_result")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_crm_quality_result_key", "crm_quality_result", ["business_date", "province", "mode"]
    )
    op.create_table(
        "crm_quality_failure",
        sa.Column("failure_id", _id(), autoincrement=True, nullable=False),
        sa.Column("result_id", _id(), nullable=False),
        sa.Column("check_name", sa.String(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("observed", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["crm_quality_result.result_id"],
            name=op.f("fk_crm_quality_failure_result_id_crm_quality_result"),
        ),
        sa.PrimaryKeyConstraint("failure_id", name=op.f("pk_crm_quality_failure")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_crm_quality_failure_result", "crm_quality_failure", ["result_id"])
    op.create_table(
        "crm_quality_accept",
        sa.Column("accept_id", _id(), autoincrement=True, nullable=False),
        sa.Column("result_id", _id(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("inputs", sa.String(), nullable=True),
        sa.Column("accepted_by", sa.String(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["crm_quality_result.result_id"],
            name=op.f("fk_crm_quality_accept_result_id_crm_quality_result"),
        ),
        sa.PrimaryKeyConstraint("accept_id", name=op.f("pk_crm_quality_accept")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_crm_quality_accept_key", "crm_quality_accept", ["business_date", "province", "mode"]
    )


def downgrade() -> None:
    op.drop_table("crm_quality_accept")
    op.drop_table("crm_quality_failure")
    op.drop_table("crm_quality_result")
