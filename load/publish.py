"""The publication of a staged batch: ONE transaction that makes it visible to the CRM.

Everything here is set-based SQL that runs unchanged on PostgreSQL and SQLite (both
understand `ON CONFLICT`, `UPDATE ... FROM` and `IS DISTINCT FROM`); the only dialect
differences are the row lock taken before publishing, and a province's first accounts,
source records and contacts, attached as its partitions of crm_account,
crm_customer_source and crm_contact instead of copied (load.batch_tables). No statement
takes a lock that blocks another province's reads, and none blocks its row writes beyond
one short statement (the attach's SHARE UPDATE EXCLUSIVE only waits for another attach),
so provinces load side by side. The statements themselves are in load.upserts; the
batch's ids are registered before (load.registration).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import ColumnElement, Connection, Engine, Table, delete, func, select, update

from common.batch import DELTA_REMOVED, ProvinceBatch
from load import batch_tables, delta_basis
from load.batches import BatchKey, province_empty, published_batch, record_file_counts
from load.control import now
from load.customer_scope import (
    BasisChanged,
    BatchCustomers,
    ScopeChanged,
    stages_changes_only,
    stages_qualified_only,
)
from load.sql import text
from load.tables import (
    PUBLISHED,
    STAGING,
    SUPERSEDED,
    crm_account,
    crm_contact,
    crm_customer,
    crm_customer_source,
    crm_file_count,
    crm_load_batch,
    crm_reject,
    stg_account,
    stg_reject,
)
from load.upserts import UPSERTS, customer_counts, publish_customers, publish_rows

log = logging.getLogger(__name__)

# The CRM tables a load writes. A first load fills them with millions of rows after their
# statistics were taken empty, and every later night's look-ups (the quality gate's, the
# daily publication's) were planned as scans of the province until autovacuum came by
# (minutes per statement at 2 M customers): they are analyzed after an initial batch.
PUBLISHED_TABLES = (
    "crm_customer", "crm_customer_key", "crm_customer_source", "crm_contact", "crm_account",
)  # fmt: skip


def publish(
    engine: Engine,
    batch: ProvinceBatch,
    batch_id: int,
    *,
    force: bool,
    staged: dict[str, Table] | None = None,
    staged_rest: Callable[[], object] | None = None,
    held_accounts: Callable[[], int | None] | None = None,
) -> dict[str, int] | None:
    """Move the staged batch into the CRM tables and mark it published, in ONE transaction.

    `staged`: where the batch's rows of a partitioned CRM table (crm_account,
    crm_customer_source, crm_contact; by name) were staged when not in the shared `stg_*`
    table: the batch's own table (load.batch_tables), which is attached as the province's
    partition when the province still has none.

    `staged_rest`: when given, only the customers are staged when the publication begins;
    it is called once they are written into crm_customer and returns when everything else
    is staged (raising if that failed: nothing is published then). The customers' rows are
    written meanwhile (load.batch_writer).

    `held_accounts`: called once everything is staged, the accounts the batch holds for
    its CRM customers when they are not all staged (load.customer_scope.row_scope; None:
    the staged ones are counted).

    Returns the published counts, or None when another (date, province, mode) batch is
    already published and `force` is not set: nothing is changed then.
    """
    key = BatchKey(batch.business_date, batch.province, batch.mode)
    params = {"b": batch_id, "p": batch.province}
    with engine.begin() as conn:
        lock = select(crm_load_batch.c.status).where(crm_load_batch.c.batch_id == batch_id)
        if engine.dialect.name == "postgresql":
            lock = lock.with_for_update()
        if conn.execute(lock).scalar() != STAGING:
            return None
        if engine.dialect.name == "postgresql":
            # One publication per province at a time (other provinces are not blocked):
            # the update-then-insert below relies on no one else inserting its keys.
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('crm_publish'), hashtext(:p))"),
                params,
            )
        old = published_batch(conn, key)
        if old is not None and not force:
            return None
        first = province_empty(conn, crm_customer, batch.province)
        if not first and stages_qualified_only(conn, batch_id):
            raise ScopeChanged(f"{key}: another batch of {batch.province} was published")
        if old is not None:
            conn.execute(
                update(crm_load_batch)
                .where(crm_load_batch.c.batch_id == old)
                .values(status=SUPERSEDED)
            )
            # The new batch redoes the old one: rows it last changed now belong to the
            # new batch (so a reader following batch_id to published batches finds them),
            # and its rejects and file counts are replaced.
            for table in (crm_customer, crm_customer_source, crm_contact, crm_account):
                conn.execute(update(table).where(table.c.batch_id == old).values(batch_id=batch_id))
            for table in (crm_reject, crm_file_count):
                conn.execute(delete(table).where(table.c.batch_id == old))
        # A daily batch is published by its rows' marks against the previous date when
        # the CRM holds that date as published (its newest batch of the province); a batch
        # replacing a published one, or of other code, is published whole.
        by_delta = delta_basis.by_delta(conn, batch)  # none is published: `old` is None
        if not by_delta and stages_changes_only(conn, batch_id):
            raise BasisChanged(
                f"{key}: staged by its changes over its basis, which the CRM no longer holds"
            )
        if by_delta and engine.dialect.name == "postgresql" and looks_up(batch):
            _by_look_ups(conn)
        customers = BatchCustomers.of(conn, batch_id)
        inserted = publish_customers(conn, params, customers, first=first)
        counts = customer_counts(conn, params, customers)
        if customers.registered and inserted != counts["customers"]:
            # Every staged customer of a first load was registered with the batch's
            # resolve_ids checkpoint; a registry row missing now would lose a customer.
            raise RuntimeError(
                f"{key}: {counts['customers']} customers staged, {inserted} found in the"
                " registry crm_customer_key"
            )
        if staged_rest is not None:
            staged_rest()
        staged = staged or {}
        attach: list[Table] = []
        for target, staging, keys, values in UPSERTS:
            staging = staged.get(target.name, staging)
            if batch_tables.is_batch_table(staging) and not batch_tables.has_partition(
                conn, batch.province, target
            ):
                attach.append(target)  # attached last, below: its lock is held shortest
                continue
            first = province_empty(conn, target, batch.province)
            publish_rows(
                conn, params, customers, target, staging, keys, values,
                first=first, by_delta=by_delta,
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO crm_reject (batch_id, seq, file, line, raw, reason, field, branch)"
                " SELECT batch_id, seq, file, line, raw, reason, field, branch FROM stg_reject"
                " WHERE batch_id = :b"
            ),
            params,
        )
        record_file_counts(conn, batch_id, batch.files)
        _record_formulas(conn, batch, batch_id)
        counts.update(_counts(conn, batch_id, staged.get(crm_account.name, stg_account)))
        held = held_accounts() if held_accounts is not None else None
        if held is not None:  # staged by its changes: not every account is staged
            counts["accounts"] = held
        for target in attach:  # in UPSERTS order, which is load.batch_tables.ATTACHED's
            batch_tables.attach(conn, batch_id, batch.province, target)
        conn.execute(
            update(crm_load_batch)
            .where(crm_load_batch.c.batch_id == batch_id)
            .values(status=PUBLISHED, published_at=now(), **counts)
        )
    return counts


# A batch published by look-ups holds at most this many rows (its links, source records
# and accounts): a larger one (the first night of a new formula re-scores the province)
# keeps the planner's hash joins, since a nested loop costs each of its rows a look-up.
LOOKUP_ROWS = 2_000_000


def looks_up(batch: ProvinceBatch) -> bool:
    """Whether a batch published by its changed rows is small enough for `_by_look_ups`."""
    tables = (batch.links, batch.source_customers, batch.accounts)
    return sum(t.num_rows for t in tables) <= LOOKUP_ROWS


def _by_look_ups(conn: Connection) -> None:
    """Steer the rest of this transaction's plans to look-ups by key (PostgreSQL).

    A batch published by its changed rows holds the day's change, a few thousand rows, but
    with its default costs the planner joins them by hashing the province: a scan of
    crm_customer for the customers' update, and of the province's partition for each anti
    join of the inserts (at 4 M customers 0.8-0.9 s each, twice the 2 M time), plus a JIT
    compilation of 100 ms a statement, which their costs, inflated by those scans, ask
    for. Nested loops over the primary keys follow the change instead
    (docs/performance.md, issue 21). `SET LOCAL` ends with the transaction."""
    for setting in ("enable_hashjoin", "enable_mergejoin", "jit"):
        conn.exec_driver_sql(f"SET LOCAL {setting} = off")


def _record_formulas(conn: Connection, batch: ProvinceBatch, batch_id: int) -> None:
    """Keep the history of formulas in force: first and last batch each one scored."""
    for cust_type, formula_id in sorted(batch.formula_ids.items()):
        name, _, digest = formula_id.partition("@")
        conn.execute(
            text(
                "INSERT INTO crm_formula (province, cust_type, formula_id, name, content_hash,"
                " accepted_at, first_batch_id, last_batch_id)"
                " VALUES (:p, :t, :f, :n, :h, :now, :b, :b)"
                " ON CONFLICT (province, cust_type, formula_id)"
                " DO UPDATE SET last_batch_id = excluded.last_batch_id"
            ),
            {
                "p": batch.province,
                "t": cust_type,
                "f": formula_id,
                "n": name,
                "h": digest,
                "now": now(),
                "b": batch_id,
            },
        )


def _counts(conn: Connection, batch_id: int, accounts: Table) -> dict[str, int]:
    def count(table: Table, *where: ColumnElement[bool]) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(table)
                .where(table.c.batch_id == batch_id, *where)
            ).scalar_one()
        )  # fmt: skip

    # The accounts the batch holds, not the keys it removes (a batch's own table has no
    # `delta`: it holds no removed key).
    delta = accounts.c.get("delta")
    live = () if delta is None else (delta.is_(None) | (delta != DELTA_REMOVED),)
    return {"accounts": count(accounts, *live), "rejects": count(stg_reject)}


def refresh_statistics(engine: Engine, *tables: str) -> None:
    """Fresh planner statistics before publication (PostgreSQL).

    The publishing statements join the just-filled staging tables to the CRM tables;
    planned on the statistics of empty tables (a new warehouse, a first load), one of
    them was seen running for minutes instead of seconds at 10 million accounts.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table}")
