"""The primary keys of crm_account, crm_customer_source and crm_contact with the partition
key last: (acct_no, source, province) and (source_cust_no, source, province) instead of
(province, source, ...). Same columns, same constraint names, same uniqueness.

Why: on PostgreSQL these tables are LIST-partitioned by province (0003, 0004), and a
province's first load builds each key on a table of its own that becomes the province's
partition (load/batch_tables.py `prepare_attach`, which takes the models' key order, so that
the ATTACH finds the index the parent's key needs instead of building another one inside
the publication). Within a partition `province` is constant and `source` has four values,
so with the old order every comparison of the key's sort compared `province` (in the
database's collation, 0005: a `strcoll` call), then `source`, before reaching the one
column that tells rows apart, and PostgreSQL's abbreviated keys, taken from the first
column, were all alike. In the new order the number decides every comparison (`source`
and `province` only break ties, which a unique number never has).

Measured: on 9.9 million accounts of a province's first load, the account key took 3.46 s
in the old order, 1.72 s in the new. Again here (PostgreSQL 15.18, this 2-core machine, a
throwaway `tests.servers.postgres.PostgresServer(fsync=True)`), a table shaped like a first
load's own account table, 10,000,000 rows of one province (1.3 GB):

    CREATE TABLE t (LIKE crm_account INCLUDING DEFAULTS)
        WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false);
    INSERT INTO t SELECT 'ZJ', (ARRAY['RTL','RTL','RTL','RTL','CRD','CRD','LON','FND'])[i % 8 + 1],
        CASE WHEN i % 8 < 4 THEN '6233' || lpad(p::text, 18, '0')
             WHEN i % 8 < 6 THEN '622533' || lpad(p::text, 10, '0')
             WHEN i % 8 = 6 THEN 'LN33' || lpad(p::text, 12, '0')
             ELSE 'FAZJ' || lpad(p::text, 12, '0') END,
        i / 3, 'R3301' || lpad((i / 3)::text, 11, '0'), 'DEMAND', 'CNY', 1234.56, 1234.56,
        'N', true, DATE '2020-01-01', NULL, 1
      FROM generate_series(0, 9999999) i, LATERAL (SELECT (i::bigint * 7919) % 10000000 AS p) q;
    VACUUM (FREEZE, ANALYZE) t; CHECKPOINT;
    SET maintenance_work_mem = '256MB';  -- as load/batch_tables.py INDEX_MEMORY
    ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY (<key>);  -- timed, then dropped

(the numbers scrambled, as a load stages them), old and new order alternating: (province,
source, acct_no) 10.77 s and 10.95 s, (acct_no, source, province) 5.05 s and 6.50 s (other
people's tests were running on the machine meanwhile; the index is 431 MB either way).
The source records' and contacts' keys, (source_cust_no, source, province), gain alike
(not timed separately).

Queries: no statement of the pipeline looks rows up by a prefix of the old key other than
province alone. On PostgreSQL `province = :p` prunes to the partition, where the key's
first column never helped. The lookups by whole key (the daily publication's UPDATE and
anti-join INSERT in load/upserts.py `publish_rows`, the daily transactions' account
lookup load/transactions.py `crm_account_ids`, `acct_no IN (...)` with province and source) still
go through the key on both databases (checked with EXPLAIN on PostgreSQL and EXPLAIN QUERY
PLAN on SQLite 3.40 after a daily load: `Index Scan using crm_account_p_zj_pkey ... Index
Cond: acct_no = s.acct_no AND source = s.source AND province = 'ZJ'`, `SEARCH crm_account
USING INDEX sqlite_autoindex_crm_account_1 (acct_no=? AND source=? AND province=?)`, the
same for the other two tables; the DELETE goes through the `crm_cust_id` index as before,
see the comment in `publish_rows`). What loses its index on SQLite (the embedded demo's
database: a few provinces of a few thousand customers) is a test of `province` alone:
load/batches.py `province_empty` (is this the province's first publication into the
table: a scan of the key's index, whole when it is, stopped at the province's first row
otherwise; about 40 ms per million rows when whole, measured here) and load/statements.py
`crm_customers` (a statement's accounts of a province: now a scan through the
`crm_cust_id` index, whose order the query wants anyway), once per publication or
statement. Nothing is added for them; the warehouses that hold millions are PostgreSQL's.

Converted in place. PostgreSQL: each parent's key dropped and added again in the new
order in one ALTER TABLE, which recurses to its partitions (their key indexes named
`<partition>_pkey` again, as load/batch_tables.py `attach` names an attached one); a first
load's own tables of an interrupted load (`stg_account_b<batch_id>`,
`stg_customer_source_b<batch_id>`, `stg_contact_b<batch_id>`) lose their key if it was
built already (`<name>_pkey`, old order): the load's restart builds it again in the new
order (`prepare_attach` builds what is missing). SQLite: each table rebuilt (batch mode)
with the new key. The downgrade does the same with the old order. On PostgreSQL the
upgrade holds the three tables exclusively while it builds every partition's key again
(about the times above per 10 million rows): run it when no load is running.

Not changed: the shared staging tables `stg_account`, `stg_customer_source`, `stg_contact`
keep `batch_id` first: they are not partitioned, hold several batches, and every statement
reading them selects one batch (`batch_id = :b`) by that prefix.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (new key, old key)
KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crm_customer_source": (
        ("source_cust_no", "source", "province"),
        ("province", "source", "source_cust_no"),
    ),
    "crm_contact": (
        ("source_cust_no", "source", "province"),
        ("province", "source", "source_cust_no"),
    ),
    "crm_account": (("acct_no", "source", "province"), ("province", "source", "acct_no")),
}

# Sort a key in memory (as load/batch_tables.py does for a first load's keys).
INDEX_MEMORY = "256MB"


def _batch_tables() -> list[str]:
    """A first load's own tables (accounts, source records, contacts) present now."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relname ~ '^stg_(account|customer_source|contact)_b[0-9]+$'"
            " ORDER BY relname"
        )
    )
    return list(rows.scalars())


def _rekey(new: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        for table, keys in KEYS.items():
            with op.batch_alter_table(table, recreate="always") as batch_op:
                batch_op.drop_constraint(f"pk_{table}", type_="primary")
                batch_op.create_primary_key(f"pk_{table}", list(keys[0 if new else 1]))
        return
    op.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'")
    for table, keys in KEYS.items():
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT pk_{table},"
            f" ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(keys[0 if new else 1])})"
        )
    for name in _batch_tables():
        op.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT IF EXISTS "{name}_pkey"')


def upgrade() -> None:
    _rekey(new=True)


def downgrade() -> None:
    _rekey(new=False)
