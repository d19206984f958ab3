"""PostgreSQL: the identifier columns the load sorts, indexes and joins on compare in byte
order (`COLLATE "C"`); SQLite unchanged (it compares bytes already: BINARY).

Under the database's libc collation (`C.UTF-8` in the tests, `zh_CN.UTF-8` in a bank) every
comparison of these columns is a `strcoll` call and sorts get no abbreviated keys; a
province's first load sorts millions of them (the batch tables' primary keys, the id
registry's unique index). Byte order is what these codes and numbers mean anyway, and it
is the order SQLite and the id assignment (`ORDER BY ... COLLATE "C"`) already used.
Equality does not change (both collations are deterministic): the same rows match, the
same keys are unique; only ordering (`ORDER BY`, `<`) of these columns is now byte order.

Not changed: `province` (the partition key of crm_account, crm_customer_source and
crm_contact, which PostgreSQL cannot alter; kept in the database's collation in every
table so that it compares alike everywhere), crm_customer (no index on these columns), the
transaction and statement tables. A comparison of a "C" column with a column of the
database's default collation is done in "C" (PostgreSQL: a non-default implicit collation
wins), so queries joining these columns to others keep working.

Columns of a table partitioned by province are altered on every partition; a first
load's own tables (`stg_*_b<batch_id>`, an interrupted load) are altered too, so that
they can still be attached (and joined alike). Indexes on the altered columns are rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCE = {"source": "varchar(3)", "source_cust_no": "varchar"}
_ACCOUNT = {"source": "varchar(3)", "acct_no": "varchar", "source_cust_no": "varchar"}
_IDENTITY = {"cust_type": "varchar(1)", "id_type": "varchar(8)", "id_no": "varchar"}

# table -> {column: type}
COLUMNS: dict[str, dict[str, str]] = {
    "crm_customer_key": _IDENTITY,
    "crm_customer_source": _SOURCE,
    "crm_contact": _SOURCE,
    "crm_account": _ACCOUNT,
    "stg_customer": {"cust_key": "varchar", **_IDENTITY},
    "stg_customer_source": _SOURCE,
    "stg_contact": _SOURCE,
    "stg_account": _ACCOUNT,
}
# A first load's own tables: shaped like the CRM table they become a partition of, or
# (customers) like stg_customer.
_BATCH_TABLES = {
    "stg_customer_source": "crm_customer_source",
    "stg_contact": "crm_contact",
    "stg_account": "crm_account",
    "stg_customer": "stg_customer",
}


def _alter(table: str, columns: dict[str, str], collation: str) -> None:
    changes = ", ".join(
        f'ALTER COLUMN {column} TYPE {kind} COLLATE "{collation}"'
        for column, kind in columns.items()
    )
    op.execute(f'ALTER TABLE "{table}" {changes}')


def _batch_tables() -> list[tuple[str, str]]:
    """(name, table it is shaped like) of the first loads' own tables present now."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relname ~ '^stg_(account|customer_source|contact|customer)_b[0-9]+$'"
        )
    )
    return [(name, _BATCH_TABLES[name.rsplit("_b", 1)[0]]) for (name,) in rows.all()]


def _convert(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        _alter(table, columns, collation)
    for name, like in _batch_tables():
        _alter(name, COLUMNS[like], collation)


def upgrade() -> None:
    _convert("C")


def downgrade() -> None:
    _convert("default")
