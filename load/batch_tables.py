"""A batch's own tables: a province's first publication on PostgreSQL attaches, not copies.

`crm_account`, `crm_customer_source` and `crm_contact` are LIST-partitioned by province on
PostgreSQL (migrations 0003, 0004), one partition `<table>_p_<province>` per province that
has ever published into them, no DEFAULT partition. While a province has no partition it
has no rows there, so the first batch that publishes them (the province's initial load, by
far the largest write) does not stage them in the shared UNLOGGED `stg_*` table and then
copy them again inside the publication: it stages them, in the same checkpointed chunks,
into a WAL-logged table of its own (`stg_account_b<batch_id>`,
`stg_customer_source_b<batch_id>`, `stg_contact_b<batch_id>`), shaped like the CRM table.
Once the last chunk is in, its primary key, index and a `CHECK (province = ...)` are built
outside the publication (so the publication neither builds indexes nor scans the rows),
and the publishing transaction attaches the table as the province's partition and renames
it: the rows become visible to the CRM at the commit, with the rest of the batch, having
been written once.

Locks: `ATTACH PARTITION` takes SHARE UPDATE EXCLUSIVE on the partitioned table until the
commit. That does not conflict with readers or with other provinces' row writes (ROW
EXCLUSIVE); only two attaches (two provinces publishing their first load at the same
moment) wait for each other's commit (always in the order of `ATTACHED`, so they cannot
deadlock). Publications of one province are serialized by the advisory lock in
`load.publish`, under which the partition is looked for again: if another batch of the
province attached one in the meantime, this batch's table is published row by row like
the `stg_*` table instead.

Later batches of the province, `--force` included, go through the `stg_*` tables and
update the partitions row by row (unchanged rows keep their batch_id). SQLite has no
partitions and always uses the `stg_*` tables.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Column, Connection, Engine, MetaData, Table
from sqlalchemy import text as _text

from load.sql import literal
from load.tables import (
    crm_account,
    crm_contact,
    crm_customer_source,
    stg_account,
    stg_contact,
    stg_customer,
    stg_customer_source,
)

# maintenance_work_mem for building a batch table's keys.
INDEX_MEMORY = "256MB"

# A first load's own tables are not vacuumed or analyzed by autovacuum while the load
# fills them (millions of rows inserted trigger it): it scanned them beside the key
# builds, and the publication's ATTACH had to wait for PostgreSQL to cancel it
# (deadlock_timeout, one second per table, measured at 10 million accounts). Autovacuum
# takes them over once attached (the setting is reset there); the publication itself
# needs no statistics of them (they are attached, not read).
NO_AUTOVACUUM = "autovacuum_enabled = false, toast.autovacuum_enabled = false"

# The partitioned CRM tables, each with the shared staging table it replaces on a first
# load; attached in this order.
ATTACHED: dict[str, tuple[Table, Table]] = {
    target.name: (target, staging)
    for target, staging in (
        (crm_customer_source, stg_customer_source),
        (crm_contact, stg_contact),
        (crm_account, stg_account),
    )
}


def partition_name(province: str, target: Table = crm_account) -> str:
    """`crm_account_p_zj` for ZJ; any other spelling of a code is hex-encoded."""
    if re.fullmatch(r"[A-Z0-9]{1,8}", province):
        return f"{target.name}_p_{province.lower()}"
    return f"{target.name}_p_x{province.encode().hex()}"


# Tables created here at run time, not by the migrations: Alembic's autogenerate must not
# propose dropping them (load/migrations/env.py passes this as `include_name`).
_RUNTIME_TABLES = re.compile(
    r"(crm_account|crm_customer_source|crm_contact)_p_\w+"
    r"|stg_(account|customer_source|contact|customer)_b\d+"
)
_BATCH_TABLE = re.compile(r"stg_(account|customer_source|contact)_b\d+")


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    return not (type_ == "table" and name is not None and _RUNTIME_TABLES.fullmatch(name))


def batch_table_name(batch_id: int, target: Table = crm_account) -> str:
    return f"{ATTACHED[target.name][1].name}_b{int(batch_id)}"


def batch_table(batch_id: int, target: Table = crm_account) -> Table:
    """The batch's own table for `target`: its columns (province, batch_id included)."""
    return Table(
        batch_table_name(batch_id, target),
        MetaData(),
        *(Column(c.name, c.type, nullable=c.nullable) for c in target.columns),
    )


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(_text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one()


def has_partition(conn: Connection, province: str, target: Table = crm_account) -> bool:
    return _exists(conn, partition_name(province, target))


def staging_table(
    engine: Engine, batch_id: int, province: str, target: Table = crm_account
) -> Table:
    """Where the batch stages its rows of `target`: its own table if the province has no
    partition of it yet (PostgreSQL), else the shared `stg_*` table. A restart finds the
    same choice again: the batch's table, once created, is kept until the batch is
    published or abandoned."""
    shared = ATTACHED[target.name][1]
    if engine.dialect.name != "postgresql":
        return shared
    name = batch_table_name(batch_id, target)
    with engine.begin() as conn:
        if not _exists(conn, name):
            if has_partition(conn, province, target):
                return shared
            conn.exec_driver_sql(
                f"CREATE TABLE {name} (LIKE {target.name} INCLUDING DEFAULTS)"
                f" WITH ({NO_AUTOVACUUM})"
            )
    return batch_table(batch_id, target)


def is_batch_table(table: Table) -> bool:
    return _BATCH_TABLE.fullmatch(table.name) is not None


def prepare_attach(
    engine: Engine, batch_id: int, province: str, target: Table = crm_account
) -> None:
    """Build the batch table's keys and partition check before publication (idempotent:
    a restart after a crash in here does what is missing).

    The primary key's index and the customer index are built side by side, one connection
    each (CREATE INDEX takes a SHARE lock, which does not exclude another one), and the
    index then becomes the primary key (`ADD CONSTRAINT ... USING INDEX`, no second
    build): one after the other, the accounts' two builds were the load's last seconds,
    with a core idle."""
    name = batch_table_name(batch_id, target)
    key = ", ".join(c.name for c in target.primary_key.columns)
    with engine.connect() as conn:
        present = set(
            conn.execute(
                _text("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:n)"),
                {"n": name},
            ).scalars()
        )
    builds = [f"CREATE INDEX IF NOT EXISTS {name}_cust ON {name} (crm_cust_id)"]
    if f"{name}_pkey" not in present:
        builds.insert(0, f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_pkey ON {name} ({key})")

    def build(statement: str) -> None:
        with engine.begin() as conn:
            # Sort in memory (the 64MB default spills a million rows to disk).
            conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'")
            conn.exec_driver_sql(statement)

    with ThreadPoolExecutor(max_workers=len(builds), thread_name_prefix="load-index") as pool:
        for done in [pool.submit(build, statement) for statement in builds]:
            done.result()
    with engine.begin() as conn:
        if f"{name}_pkey" not in present:
            conn.exec_driver_sql(
                f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY USING INDEX {name}_pkey"
            )
        if f"{name}_province" not in present:
            conn.exec_driver_sql(
                f"ALTER TABLE {name} ADD CONSTRAINT {name}_province"
                f" CHECK (province = {literal(province)})"
            )


def attach(conn: Connection, batch_id: int, province: str, target: Table = crm_account) -> None:
    """Make the batch table the province's partition of `target` (inside the publication)."""
    name = batch_table_name(batch_id, target)
    partition = partition_name(province, target)
    conn.exec_driver_sql(
        f"ALTER TABLE {target.name} ATTACH PARTITION {name} FOR VALUES IN ({literal(province)})"
    )
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {name}_province")
    conn.exec_driver_sql(f"ALTER TABLE {name} RESET (autovacuum_enabled, toast.autovacuum_enabled)")
    conn.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {partition}")
    conn.exec_driver_sql(
        f"ALTER TABLE {partition} RENAME CONSTRAINT {name}_pkey TO {partition}_pkey"
    )
    conn.exec_driver_sql(f"ALTER INDEX {name}_cust RENAME TO {partition}_cust")


def drop_batch_table(engine: Engine, batch_id: int) -> None:
    """Drop the batch's own tables that were not attached, and its customer table."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for target, _shared in ATTACHED.values():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {batch_table_name(batch_id, target)}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {customer_table_name(batch_id)}")


def customer_table_name(batch_id: int) -> str:
    return f"{stg_customer.name}_b{int(batch_id)}"


def customer_table(dialect: str, batch_id: int, *, qualified_only: bool) -> str:
    """Where the batch's customers are staged: on a province's first load (its qualified
    customers only) on PostgreSQL, an UNLOGGED table of the batch's own shaped like
    stg_customer but without its primary key (maintaining it row by row cost about 1.6 s
    of COPY per million customers; a duplicate customer would still fail the id
    registration, every customer of a first load being qualified); else stg_customer."""
    if dialect == "postgresql" and qualified_only:
        return customer_table_name(batch_id)
    return stg_customer.name


def customer_staging(engine: Engine, batch_id: int, *, qualified_only: bool) -> Table:
    """The table `customer_table` names, created if it is the batch's own (a restart finds
    it again: the customer scope is recorded)."""
    name = customer_table(engine.dialect.name, batch_id, qualified_only=qualified_only)
    if name == stg_customer.name:
        return stg_customer
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE UNLOGGED TABLE IF NOT EXISTS {name}"
            f" (LIKE {stg_customer.name} INCLUDING DEFAULTS) WITH ({NO_AUTOVACUUM})"
        )
    return Table(
        name,
        MetaData(),
        *(Column(c.name, c.type, nullable=c.nullable) for c in stg_customer.columns),
    )
