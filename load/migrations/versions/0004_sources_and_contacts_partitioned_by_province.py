"""crm_customer_source and crm_contact LIST-partitioned by province on PostgreSQL (SQLite:
unchanged), as 0003 did for crm_account.

A province's first publication then attaches its source records and contacts, staged into
tables of the batch's own (`stg_customer_source_b<batch_id>`, `stg_contact_b<batch_id>`,
see load/batch_tables.py), as its partitions (`crm_customer_source_p_<province>`,
`crm_contact_p_<province>`) instead of copying them row by row. Later batches update the
partitions row by row as before. No DEFAULT partition.

An existing warehouse is converted in place: one partition per province already present,
the rows copied over, the old tables dropped. Names, keys and columns do not change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:10:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = (
    "province varchar(8) NOT NULL, source varchar(3) NOT NULL,"
    " source_cust_no varchar NOT NULL, crm_cust_id bigint NOT NULL"
)
COLUMNS = {
    "crm_customer_source": f"{KEY}, role varchar(8) NOT NULL, batch_id bigint NOT NULL",
    "crm_contact": (
        f"{KEY}, phone varchar, mobile varchar, address varchar, postcode varchar(10),"
        " batch_id bigint NOT NULL"
    ),
}


def _partition(table: str, province: str) -> str:
    # The same rule as load.batch_tables.partition_name (copied: a migration must not change
    # when the code does).
    if re.fullmatch(r"[A-Z0-9]{1,8}", province):
        return f"{table}_p_{province.lower()}"
    return f"{table}_p_x{province.encode().hex()}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rebuild(table: str, old: str, *, partitioned: bool) -> None:
    """Rename `table` to `old`, create it again (partitioned or not), copy the rows over."""
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    op.execute(f"ALTER INDEX ix_{table}_cust RENAME TO ix_{old}_cust")
    key = f"CONSTRAINT pk_{table} PRIMARY KEY (province, source, source_cust_no)"
    by = " PARTITION BY LIST (province)" if partitioned else ""
    op.execute(f"CREATE TABLE {table} ({COLUMNS[table]}, {key}){by}")
    op.execute(f"CREATE INDEX ix_{table}_cust ON {table} (crm_cust_id)")
    if partitioned:
        provinces = op.get_bind().execute(sa.text(f"SELECT DISTINCT province FROM {old}"))
        for (province,) in provinces.all():
            op.execute(
                f'CREATE TABLE "{_partition(table, province)}" PARTITION OF {table}'
                f" FOR VALUES IN ({_literal(province)})"
            )
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")  # its partitions, if any, go with it


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in COLUMNS:
        _rebuild(table, f"{table}_0003", partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in COLUMNS:
        _rebuild(table, f"{table}_0004", partitioned=False)
