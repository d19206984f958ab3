"""A daily batch stages what changed, not every row of the customers it touched (issue 21).

`stg_customer_source`, `stg_contact` and `stg_account` gain `delta`: NULL for a batch that
sends its customers' rows whole (an initial load: rows of its customers not staged are
deleted), otherwise `same` (the row as the previous date's state had it), `changed` (new,
or different) or `removed` (a key the previous date had and the day no longer gives, or gives to a
customer outside the CRM: the publication deletes it). A removed key has no CRM customer,
so their `crm_cust_id` becomes nullable. See load/upserts.py and docs/decisions.md ("Daily publication
by the rows that changed").

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-03 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("stg_customer_source", "stg_contact", "stg_account")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("delta", sa.String(8), nullable=True))
            batch.alter_column("crm_cust_id", existing_type=_id(), nullable=True)


def downgrade() -> None:
    for table in _TABLES:
        op.execute(sa.text(f"DELETE FROM {table} WHERE crm_cust_id IS NULL"))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("crm_cust_id", existing_type=_id(), nullable=False)
            batch.drop_column("delta")
