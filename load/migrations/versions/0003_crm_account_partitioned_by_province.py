"""crm_account LIST-partitioned by province on PostgreSQL (SQLite: unchanged).

A province's first publication then needs no second write of its accounts: they are
staged into a table of their own (`stg_account_b<batch_id>`, see load/batch_tables.py) that the
publishing transaction attaches as the province's partition (`crm_account_p_<province>`).
Later batches update the partition row by row as before. There is no DEFAULT partition: a
province without one has no accounts, and attaching never has to scan or lock another
province's rows.

An existing warehouse is converted in place: one partition per province already present,
the rows copied over, the old table dropped. Names, keys and columns do not change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:20:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "province varchar(8) NOT NULL, source varchar(3) NOT NULL, acct_no varchar NOT NULL,"
    " crm_cust_id bigint NOT NULL, source_cust_no varchar NOT NULL, kind varchar(8) NOT NULL,"
    " currency varchar(3) NOT NULL, balance numeric(20, 2) NOT NULL,"
    " balance_cny numeric(38, 8) NOT NULL, status varchar(1) NOT NULL,"
    " in_scope boolean NOT NULL, open_date date, maturity_date date,"
    " batch_id bigint NOT NULL,"
    " CONSTRAINT pk_crm_account PRIMARY KEY (province, source, acct_no)"
)


def _partition(province: str) -> str:
    # The same rule as load.batch_tables.partition_name (copied: a migration must not change
    # when the code does).
    if re.fullmatch(r"[A-Z0-9]{1,8}", province):
        return f"crm_account_p_{province.lower()}"
    return f"crm_account_p_x{province.encode().hex()}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE crm_account RENAME TO crm_account_0002")
    op.execute(
        "ALTER TABLE crm_account_0002 RENAME CONSTRAINT pk_crm_account TO pk_crm_account_0002"
    )
    op.execute("ALTER INDEX ix_crm_account_cust RENAME TO ix_crm_account_cust_0002")
    op.execute(f"CREATE TABLE crm_account ({COLUMNS}) PARTITION BY LIST (province)")
    op.execute("CREATE INDEX ix_crm_account_cust ON crm_account (crm_cust_id)")
    provinces = op.get_bind().execute(sa.text("SELECT DISTINCT province FROM crm_account_0002"))
    for (province,) in provinces.all():
        op.execute(
            f'CREATE TABLE "{_partition(province)}" PARTITION OF crm_account'
            f" FOR VALUES IN ({_literal(province)})"
        )
    op.execute("INSERT INTO crm_account SELECT * FROM crm_account_0002")
    op.execute("DROP TABLE crm_account_0002")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE crm_account RENAME TO crm_account_0003")
    op.execute(
        "ALTER TABLE crm_account_0003 RENAME CONSTRAINT pk_crm_account TO pk_crm_account_0003"
    )
    op.execute("ALTER INDEX ix_crm_account_cust RENAME TO ix_crm_account_cust_0003")
    op.execute(f"CREATE TABLE crm_account ({COLUMNS})")
    op.execute("CREATE INDEX ix_crm_account_cust ON crm_account (crm_cust_id)")
    op.execute("INSERT INTO crm_account SELECT * FROM crm_account_0003")
    op.execute("DROP TABLE crm_account_0003")  # its partitions go with it
