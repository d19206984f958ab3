"""The warehouse side of a batch, in SQL: open it, give its customers stable ids, publish.

Everything here is set-based SQL that runs unchanged on PostgreSQL and SQLite (both
understand `ON CONFLICT`, `UPDATE ... FROM` and `IS DISTINCT FROM`); the only dialect
differences are the row lock taken before publishing, a byte-order collation for the
id assignment order, a province's first registration (numbers reserved in one block and
copied in, `_register_all`), and a province's first accounts, source records and
contacts, attached as its partitions of crm_account, crm_customer_source and crm_contact
instead of copied (load/accounts.py). No statement takes a lock that blocks another
province's reads, and none blocks its row writes beyond one short statement (the block
reservation's SHARE ROW EXCLUSIVE on the registry; the attach's SHARE UPDATE EXCLUSIVE
only waits for another attach), so provinces load side by side.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    String,
    Table,
    TextClause,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import text as _text

from common.batch import ProvinceBatch
from load import accounts as account_tables
from load import prepare
from load.bulk import copy_rows
from load.control import batch_checkpoint, now, record_checkpoint
from load.tables import (
    ABANDONED,
    PUBLISHED,
    STAGING,
    STAGING_TABLES,
    SUPERSEDED,
    crm_account,
    crm_contact,
    crm_customer,
    crm_customer_key,
    crm_customer_source,
    crm_file_count,
    crm_load_batch,
    crm_reject,
    stg_account,
    stg_contact,
    stg_customer_source,
    stg_reject,
)

log = logging.getLogger(__name__)

# Typed parameters of the SQL below: psycopg prepares statements server-side, where an
# untyped `:p` used both as a value and in a comparison has no single type.
_PARAM_TYPES: dict[str, Any] = {
    "p": String(),
    "b": BigInteger(),
    "now": DateTime(timezone=True),
    "t": String(),
    "f": String(),
    "n": String(),
    "h": String(),
}


def text(sql: str) -> TextClause:
    names = set(re.findall(r"(?<!:):(\w+)", sql))
    return _text(sql).bindparams(
        *(bindparam(name, type_=kind) for name, kind in _PARAM_TYPES.items() if name in names)
    )


@dataclass(frozen=True)
class BatchKey:
    business_date: date
    province: str
    mode: str

    def where(self, table: Table = crm_load_batch) -> list[object]:
        return [
            table.c.business_date == self.business_date,
            table.c.province == self.province,
            table.c.mode == self.mode,
        ]


def published_batch(conn: Connection, key: BatchKey) -> int | None:
    return conn.execute(
        select(crm_load_batch.c.batch_id).where(
            *key.where(),  # type: ignore[arg-type]
            crm_load_batch.c.status == PUBLISHED,
        )
    ).scalar()


def open_batch(
    engine: Engine, key: BatchKey, fingerprint: str, run_id: int | None
) -> tuple[int, bool]:
    """The batch to write: the unfinished one of the same content (resumed), or a new one.

    Unfinished batches of other content are abandoned and their staging rows dropped.
    """
    with engine.begin() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.batch_id, crm_load_batch.c.fingerprint)
            .where(*key.where(), crm_load_batch.c.status == STAGING)  # type: ignore[arg-type]
            .order_by(crm_load_batch.c.batch_id.desc())
        ).all()
        resume = rows[0].batch_id if rows and rows[0].fingerprint == fingerprint else None
        stale = [row.batch_id for row in rows if row.batch_id != resume]
        if stale:
            conn.execute(
                update(crm_load_batch)
                .where(crm_load_batch.c.batch_id.in_(stale))
                .values(status=ABANDONED)
            )
        if resume is None:
            inserted = conn.execute(
                insert(crm_load_batch).values(
                    business_date=key.business_date,
                    province=key.province,
                    mode=key.mode,
                    status=STAGING,
                    created_at=now(),
                    run_id=run_id,
                    fingerprint=fingerprint,
                )
            ).inserted_primary_key
            assert inserted is not None  # crm_load_batch has a generated key
            resume = int(inserted[0])
            resumed = False
        else:
            resumed = True
    for batch_id in stale:
        log.info("batch %s of %s abandoned: content differs", batch_id, key)
        drop_staging(engine, batch_id)
    return int(resume), resumed


def drop_staging(engine: Engine, batch_id: int) -> None:
    """Delete a batch's staging rows, one table per transaction (row deletes, no TRUNCATE:
    a TRUNCATE would lock out the provinces loading at the same time), and its own tables
    that were not attached (see load.accounts)."""
    for table in STAGING_TABLES:
        with engine.begin() as conn:
            conn.execute(delete(table).where(table.c.batch_id == batch_id))
    account_tables.drop_batch_table(engine, batch_id)


def _c_order(engine: Engine, *columns: str) -> str:
    collate = ' COLLATE "C"' if engine.dialect.name == "postgresql" else ""
    return ", ".join(f"{column}{collate}" for column in columns)


# A batch's customer scope, recorded as this stream's checkpoint before its first customer
# is staged, so that a restart stages the same rows (chunk boundaries) again.
SCOPE_STREAM = "customer_scope"
QUALIFIED_ONLY, EVERY_CUSTOMER = "qualified", "all"


class ScopeChanged(Exception):
    """A first load staged its qualified customers only, and another batch of the province
    was published meanwhile: its customers that are not qualified any more would be missed.
    The batch is abandoned and written again (`Warehouse.write_batch`)."""


def customer_scope(engine: Engine, batch_id: int, province: str, step_id: int | None) -> bool:
    """Whether only the batch's qualified customers are staged (True), or all (False).

    The CRM customers of a batch are its qualified customers and those already in
    crm_customer (which get their new score, `qualified = false`). On a province's first
    load crm_customer has none of the province's customers (their numbers come from the
    province's own registry and are only published with the province), so only qualified
    customers can become CRM customers and the others need not be staged at all (about
    70% of a province's merged customers). Decided once per batch and recorded; the
    publication checks it still holds (`ScopeChanged`).
    """
    with engine.begin() as conn:
        last = batch_checkpoint(conn, batch_id, SCOPE_STREAM)
        if last is not None:
            return last.position == QUALIFIED_ONLY
        first = _province_empty(conn, crm_customer, province)
        record_checkpoint(
            conn,
            step_id=step_id,
            batch_id=batch_id,
            stream=SCOPE_STREAM,
            chunk=1,
            position=QUALIFIED_ONLY if first else EVERY_CUSTOMER,
        )
    return first


def _qualified_only(conn: Connection, batch_id: int) -> bool:
    """Whether the batch stages its qualified customers only (a province's first load)."""
    scope = batch_checkpoint(conn, batch_id, SCOPE_STREAM)
    return scope is not None and scope.position == QUALIFIED_ONLY


def _customer_table(conn: Connection, batch_id: int) -> str:
    """Where the batch's customers are staged (load.accounts.customer_table)."""
    return account_tables.customer_table(
        conn.dialect.name, batch_id, qualified_only=_qualified_only(conn, batch_id)
    )


@dataclass(frozen=True)
class _BatchCustomers:
    """The batch's CRM customers in SQL, as `SELECT {id}, s.... FROM {rows} WHERE
    s.batch_id = :b{where}` (`:p` the province): the rows `s` staged in `table` whose
    number `assign_ids` resolved into `stg_customer.crm_cust_id`, or, on a first load
    (every staged customer qualified and registered), every staged row joined to its
    registry row `k`."""

    table: str
    registered: bool  # every staged row is a CRM customer (the first form)

    @classmethod
    def of(cls, conn: Connection, batch_id: int) -> _BatchCustomers:
        return cls(_customer_table(conn, batch_id), _qualified_only(conn, batch_id))

    @property
    def rows(self) -> str:
        if not self.registered:
            return f"{self.table} s"
        return (
            f"{self.table} s JOIN crm_customer_key k ON k.province = :p"
            " AND k.cust_type = s.cust_type AND k.id_type = s.id_type AND k.id_no = s.id_no"
        )

    @property
    def id(self) -> str:
        return "k.crm_cust_id" if self.registered else "s.crm_cust_id"

    @property
    def where(self) -> str:
        return "" if self.registered else " AND s.crm_cust_id IS NOT NULL"

    def ids(self) -> str:
        """A subquery: the batch's CRM customer numbers."""
        return f"SELECT {self.id} FROM {self.rows} WHERE s.batch_id = :b{self.where}"


def assign_ids(
    engine: Engine,
    batch_id: int,
    province: str,
    step_id: int | None,
    staged_keys: pa.ChunkedArray,
) -> tuple[int, tuple[pa.Array, pa.Array] | None]:
    """Register new qualified customers of the batch; returns how many got a new id, and
    when it knows them, the batch's CRM customers as `crm_ids` returns them.

    New ids are drawn in sorted key order (byte order on both databases), so the same
    batch gets the same numbering whatever the order its rows arrived in. Registrations of
    one province never overlap: on PostgreSQL they hold a transaction-level advisory lock
    of the province's registry (other provinces are not blocked), so the anti-join sees
    every key registered before and the insert needs no `ON CONFLICT` (its speculative
    insertion doubled the statement: 1.9 s against 0.9 s for 300,000 new keys); SQLite
    writers take turns anyway (BEGIN IMMEDIATE) and keep `ON CONFLICT DO NOTHING`. The
    identity/AUTOINCREMENT counter never gives a number twice.
    Resolves, in the same transaction, which of the batch's customers are CRM customers
    (`stg_customer.crm_cust_id`): the qualified ones and those already in `crm_customer`.
    Not on a province's first load (customer scope `qualified`): there every staged
    customer is qualified, so every one is registered by the insert above, and its number
    is joined from the registry where it is used (`_batch_customers`) instead of written
    into the staging rows (rewriting every staged customer took 6.5 s of a 10M load).
    When, in addition, the province had no registered number before (the usual first
    load, PostgreSQL), the batch's CRM customers are exactly its staged customers
    (`staged_keys`, their `cust_key`s): they are registered by `_register_all`, which
    returns their numbers, so that they need not be joined from the registry again
    (`crm_ids`; it still serves a restart after this transaction).
    """
    assigned_at = now()
    params = {"b": batch_id, "p": province, "now": assigned_at}
    conflict = " ON CONFLICT (province, cust_type, id_type, id_no) DO NOTHING"
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('crm_customer_key'), hashtext(:p))"),
                params,
            )
            # The sort below in memory (the 4MB default spills a province to disk).
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            conflict = ""
        if batch_checkpoint(conn, batch_id, "resolve_ids") is not None:
            return 0, None
        order = _c_order(engine, "s.cust_type", "s.id_type", "s.id_no")
        insert = (
            "INSERT INTO crm_customer_key"
            " (province, cust_type, id_type, id_no, batch_id, assigned_at)"
            " SELECT :p, s.cust_type, s.id_type, s.id_no, :b, :now"
            f" FROM {_customer_table(conn, batch_id)} s"
            " WHERE s.batch_id = :b AND s.qualified AND NOT EXISTS ("
            "  SELECT 1 FROM crm_customer_key k WHERE k.province = :p"
            "  AND k.cust_type = s.cust_type AND k.id_type = s.id_type"
            "  AND k.id_no = s.id_no)"
            f" ORDER BY {order}{conflict}"
        )
        qualified_only = _qualified_only(conn, batch_id)
        returned = None
        if engine.dialect.name == "postgresql" and qualified_only and not _has_keys(conn, province):
            returned = _register_all(engine, staged_keys, province, batch_id, assigned_at)
            added = len(returned[0])
        else:
            added = conn.execute(text(insert), params).rowcount
        if not qualified_only:
            conn.execute(
                text(
                    "UPDATE stg_customer SET crm_cust_id = k.crm_cust_id FROM crm_customer_key k"
                    " WHERE stg_customer.batch_id = :b AND k.province = :p"
                    " AND k.cust_type = stg_customer.cust_type"
                    " AND k.id_type = stg_customer.id_type AND k.id_no = stg_customer.id_no"
                    " AND (stg_customer.qualified OR EXISTS ("
                    "  SELECT 1 FROM crm_customer c WHERE c.crm_cust_id = k.crm_cust_id))"
                ),
                {"b": batch_id, "p": province},
            )
        record_checkpoint(
            conn,
            step_id=step_id,
            batch_id=batch_id,
            stream="resolve_ids",
            chunk=1,
            position=f"new_ids={added}",
        )
    return int(added), returned


# Connections that write a province's first registration side by side (`_register_all`),
# and the rows each copies at a time.
REGISTER_CONNECTIONS = 2
REGISTER_SLICE_ROWS = 200_000


def _register_all(
    engine: Engine,
    staged_keys: pa.ChunkedArray,
    province: str,
    batch_id: int,
    assigned_at: datetime,
) -> tuple[pa.Array, pa.Array]:
    """Register every one of `staged_keys` (a province's first load: none is registered),
    numbered in sorted key order as the `INSERT ... ORDER BY` of `assign_ids` numbers them;
    returns (cust_key, crm_cust_id).

    The numbers are reserved from the registry's sequence in one statement
    (`_reserve_numbers`; the caller holds the province's registration lock) and given out
    here: the smallest to the first key in byte order of (cust_type, id_type, id_no), as
    the statement would. The rows are then copied in by `REGISTER_CONNECTIONS`
    connections, each a contiguous range of keys and numbers, each in a transaction of
    its own, `REGISTER_SLICE_ROWS` at a time: the single `INSERT ... RETURNING` took
    6-7 s of one core at ten million accounts (its sort, the two indexes, the rows handed
    back) while the other core had little to do. Nothing refers to the numbers before the
    caller records its checkpoint, after the copies: if one copy fails, the rerun finds
    the province's registry partly written and registers the rest the general way.
    """
    cust_keys = staged_keys.combine_chunks()
    cust_type, id_type, id_no = prepare.split_key(cust_keys)
    sorted_order = pc.sort_indices(
        pa.table({"cust_type": cust_type, "id_type": id_type, "id_no": id_no}),
        sort_keys=[("cust_type", "ascending"), ("id_type", "ascending"), ("id_no", "ascending")],
    ).to_numpy()
    first = _reserve_numbers(engine, len(cust_keys))
    numbers = np.empty(len(cust_keys), np.int64)
    numbers[sorted_order] = np.arange(first, first + len(cust_keys), dtype=np.int64)
    stamp = assigned_at.isoformat()
    columns = ["province", "cust_type", "id_type", "id_no", "batch_id", "assigned_at",
               "crm_cust_id"]  # fmt: skip

    def copy_range(start: int, stop: int) -> None:
        """Rows `start:stop` in key order, a slice of rows at a time (bounded memory)."""
        with engine.begin() as writer:
            for at in range(start, stop, REGISTER_SLICE_ROWS):
                take = pa.array(sorted_order[at : min(stop, at + REGISTER_SLICE_ROWS)])
                n = len(take)
                rows = pa.table(
                    {
                        "province": pa.array([province] * n, pa.string()),
                        "cust_type": cust_type.take(take),
                        "id_type": id_type.take(take),
                        "id_no": id_no.take(take),
                        "batch_id": pa.array(np.full(n, batch_id, np.int64)),
                        "assigned_at": pa.array([stamp] * n, pa.string()),
                        "crm_cust_id": pa.array(np.arange(first + at, first + at + n)),
                    }
                )
                copy_rows(writer, crm_customer_key, columns, rows)

    step = -(-len(cust_keys) // REGISTER_CONNECTIONS) or 1
    ranges = [(s, min(len(cust_keys), s + step)) for s in range(0, len(cust_keys), step)]
    with ThreadPoolExecutor(max_workers=REGISTER_CONNECTIONS) as pool:
        for done in [pool.submit(copy_range, *r) for r in ranges]:
            done.result()
    return cust_keys, pa.array(numbers)


def _reserve_numbers(engine: Engine, count: int) -> int:
    """The first of `count` consecutive numbers taken from the registry's sequence at once.

    One `setval` instead of `count` calls of `nextval` (2.6 s for a million). Every other
    number comes from the sequence by an insert into crm_customer_key, which holds the
    table in ROW EXCLUSIVE mode until its transaction ends; SHARE ROW EXCLUSIVE, taken
    for this one statement and released at once (its own transaction), waits for those
    and keeps new ones out meanwhile, so no other number can fall inside the block. It
    does not block readers. A reserved number is never given again, used or not."""
    with engine.begin() as conn:
        conn.exec_driver_sql("LOCK TABLE crm_customer_key IN SHARE ROW EXCLUSIVE MODE")
        last = conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('crm_customer_key', 'crm_cust_id'),"
                " nextval(pg_get_serial_sequence('crm_customer_key', 'crm_cust_id')) + CAST(:n AS bigint) - 1)"
            ),
            {"n": count},
        ).scalar_one()
    return int(last) - count + 1


def _has_keys(conn: Connection, province: str) -> bool:
    """Whether the province has any registered number (one index probe)."""
    return (
        conn.execute(
            text("SELECT 1 FROM crm_customer_key WHERE province = :p LIMIT 1"), {"p": province}
        ).first()
        is not None
    )


def _copy_ids(conn: Connection, sql: str) -> tuple[pa.Array, pa.Array]:
    """(cust_key, crm_cust_id) from `COPY (...) TO STDOUT (FORMAT csv)` of two columns, read
    by Arrow's CSV reader (a million customers without a Python object per row), on
    `conn`, in its transaction."""
    buffer = io.BytesIO()
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    table = pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=["cust_key", "crm_cust_id"]),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={"cust_key": pa.string(), "crm_cust_id": pa.int64()},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    return table.column("cust_key").combine_chunks(), table.column("crm_cust_id").combine_chunks()


def crm_ids(engine: Engine, batch_id: int, province: str) -> tuple[pa.Array, pa.Array]:
    """(cust_key, crm_cust_id) of the batch's CRM customers, resolved by `assign_ids`.

    PostgreSQL: `COPY ... TO STDOUT` read by Arrow's CSV reader (a million customers
    without a Python object per row)."""
    with engine.connect() as conn:
        customers = _BatchCustomers.of(conn, batch_id)
    query = (
        f"SELECT s.cust_key, {customers.id} FROM {customers.rows}"
        f" WHERE s.batch_id = :b{customers.where}"
    )
    if engine.dialect.name == "postgresql":
        sql = query.replace(":b", str(int(batch_id))).replace(":p", _literal(province))
        with engine.connect() as conn:
            return _copy_ids(conn, f"COPY ({sql}) TO STDOUT (FORMAT csv)")
    with engine.connect() as conn:
        rows = conn.execute(text(query), {"b": batch_id, "p": province}).all()
    return (
        pa.array([row[0] for row in rows], pa.string()),
        pa.array([row[1] for row in rows], pa.int64()),
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Published table <- staging table: (key columns, value columns). `province` and
# `batch_id` are filled in by the publication.
_UPSERTS: list[tuple[Table, Table, list[str], list[str]]] = [
    (
        crm_customer_source,
        stg_customer_source,
        ["source", "source_cust_no"],
        ["crm_cust_id", "role"],
    ),
    (
        crm_contact,
        stg_contact,
        ["source", "source_cust_no"],
        ["crm_cust_id", "phone", "mobile", "address", "postcode"],
    ),
    (
        crm_account,
        stg_account,
        ["source", "acct_no"],
        [
            "crm_cust_id",
            "source_cust_no",
            "kind",
            "currency",
            "balance",
            "balance_cny",
            "status",
            "in_scope",
            "open_date",
            "maturity_date",
        ],
    ),
]

_CUSTOMER_VALUES = [
    "cust_type",
    "name",
    "id_type",
    "id_no",
    "id_valid",
    "master_source",
    "master_cust_no",
    "source_count",
    "score",
    "formula_id",
    "qualified",
]


def _changed(target: str, columns: list[str]) -> str:
    return " OR ".join(f"{target}.{c} IS DISTINCT FROM s.{c}" for c in columns)


def _set(columns: list[str]) -> str:
    return ", ".join(f"{c} = s.{c}" for c in columns)


def publish(
    engine: Engine,
    batch: ProvinceBatch,
    batch_id: int,
    *,
    force: bool,
    staged: dict[str, Table] | None = None,
    staged_rest: Callable[[], object] | None = None,
) -> dict[str, int] | None:
    """Move the staged batch into the CRM tables and mark it published, in ONE transaction.

    `staged`: where the batch's rows of a partitioned CRM table (crm_account,
    crm_customer_source, crm_contact; by name) were staged when not in the shared `stg_*`
    table: the batch's own table (load.accounts), which is attached as the province's
    partition when the province still has none.

    `staged_rest`: when given, only the customers are staged when the publication begins;
    it is called once they are written into crm_customer and returns when everything else
    is staged (raising if that failed: nothing is published then). The customers' rows are
    written meanwhile (load.warehouse).

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
        first = _province_empty(conn, crm_customer, batch.province)
        scope = batch_checkpoint(conn, batch_id, SCOPE_STREAM)
        if not first and scope is not None and scope.position == QUALIFIED_ONLY:
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
        customers = _BatchCustomers.of(conn, batch_id)
        inserted = _publish_customers(conn, params, customers, first=first)
        counts = _customer_counts(conn, params, customers)
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
        for target, staging, keys, values in _UPSERTS:
            staging = staged.get(target.name, staging)
            if account_tables.is_batch_table(staging) and not account_tables.has_partition(
                conn, batch.province, target
            ):
                attach.append(target)  # attached last, below: its lock is held shortest
                continue
            first = _province_empty(conn, target, batch.province)
            _publish_rows(conn, params, customers, target, staging, keys, values, first=first)
        conn.execute(
            text(
                "INSERT INTO crm_reject (batch_id, seq, file, line, raw, reason, field, branch)"
                " SELECT batch_id, seq, file, line, raw, reason, field, branch FROM stg_reject"
                " WHERE batch_id = :b"
            ),
            params,
        )
        if batch.files:
            conn.execute(
                insert(crm_file_count),
                [
                    {
                        "batch_id": batch_id,
                        "file": f.file,
                        "branch": f.branch,
                        "system": f.system,
                        "entity": f.entity,
                        "read": f.read,
                        "kept": f.kept,
                        "set_aside": f.set_aside,
                        "filtered": f.filtered,
                        "flagged": f.flagged,
                    }
                    for f in batch.files
                ],
            )
        _record_formulas(conn, batch, batch_id)
        counts.update(_counts(conn, batch_id, staged.get(crm_account.name, stg_account)))
        for target in attach:  # in _UPSERTS order, which is load.accounts.ATTACHED's
            account_tables.attach(conn, batch_id, batch.province, target)
        conn.execute(
            update(crm_load_batch)
            .where(crm_load_batch.c.batch_id == batch_id)
            .values(status=PUBLISHED, published_at=now(), **counts)
        )
    return counts


def _province_empty(conn: Connection, table: Table, province: str) -> bool:
    """Whether `table` holds no row of `province` (one index probe): the province's first
    publication into it, under the publication lock, so no other batch can add any."""
    return (
        conn.execute(select(table.c.province).where(table.c.province == province).limit(1)).first()
        is None
    )


def _publish_customers(
    conn: Connection, params: dict[str, object], customers: _BatchCustomers, *, first: bool
) -> int:
    """Update the CRM customers whose content changed, insert the new ones; returns how
    many were inserted.

    `batch_id` moves only on rows that changed. (An update then an anti-join insert rather
    than `INSERT ... ON CONFLICT`: PostgreSQL's speculative insertion makes that two to
    three times slower on millions of rows, and publications of one province are
    serialized anyway, see `publish`.)

    `first`: crm_customer holds no row of the province, so none of the batch's customers
    (numbers of the province's own registry) can be there: a plain insert. This is not only
    faster: on PostgreSQL the anti-join against the table being filled was planned as a
    nested loop over a sequential scan when crm_customer looked empty to the planner, and
    every rescan then read all the pages the statement had written so far (quadratic: 92 s
    for 108,760 customers, minutes at a million).

    New rows are inserted in number order, so the primary key grows at its right edge
    instead of taking them in the staged (hash bucket) order: 1.33-1.39 s against
    1.53-1.55 s for 300,000 customers.
    """
    values = ", ".join(_CUSTOMER_VALUES)
    staged = ", ".join(f"s.{c}" for c in _CUSTOMER_VALUES)
    if not first:
        conn.execute(
            text(
                f"UPDATE crm_customer SET {_set(_CUSTOMER_VALUES)}, province = :p, batch_id = :b"
                f" FROM {customers.rows} WHERE s.batch_id = :b{customers.where}"
                f" AND {customers.id} = crm_customer.crm_cust_id"
                f" AND (crm_customer.province <> :p OR {_changed('crm_customer', _CUSTOMER_VALUES)})"
            ),
            params,
        )
    absent = (
        ""
        if first
        else f" AND NOT EXISTS (SELECT 1 FROM crm_customer c WHERE c.crm_cust_id = {customers.id})"
    )
    return int(
        conn.execute(
            text(
                f"INSERT INTO crm_customer (crm_cust_id, province, {values}, batch_id,"
                " first_batch_id)"
                f" SELECT {customers.id}, :p, {staged}, :b, :b FROM {customers.rows}"
                f" WHERE s.batch_id = :b{customers.where}{absent}"
                f" ORDER BY {customers.id}"
            ),
            params,
        ).rowcount
    )


def _publish_rows(
    conn: Connection,
    params: dict[str, object],
    customers: _BatchCustomers,
    target: Table,
    staging: Table,
    keys: list[str],
    values: list[str],
    *,
    first: bool,
) -> None:
    """Make `target` hold exactly the staged rows for the batch's CRM customers.

    Rows of those customers that are no longer sent are deleted; a row that moved from
    another customer (an account relinked after an ID correction) is taken over; a row
    whose content did not change keeps the `batch_id` that last changed it.

    `first`: `target` holds no row of the province, so there is nothing to delete or
    update and the staged rows are inserted as they are (no anti-join against the table
    being filled, see `_publish_customers`).
    """
    columns = ", ".join([*keys, *values])
    name = target.name
    if first:
        conn.execute(
            text(
                f"INSERT INTO {name} (province, {columns}, batch_id)"
                f" SELECT :p, {columns}, :b FROM {staging.name} s WHERE s.batch_id = :b"
            ),
            params,
        )
        return
    match = " AND ".join(f"s.{k} = {name}.{k}" for k in keys)
    # SQLite's planner (no statistics) prefers the province's prefix of the primary key to
    # any other index, so these statements would visit every row of the province (a daily
    # batch's few thousand rows among hundreds of thousands). There, `+province` keeps
    # the province's test but not that index, so the DELETE goes through the customer
    # index; and the UPDATE names the batch's keys, so it looks each one up in the key.
    # PostgreSQL (statistics, and partition pruning on a plain `province = :p`) keeps
    # the plain form.
    sqlite = conn.dialect.name == "sqlite"
    province = "+province" if sqlite else "province"
    batch_keys = (
        f" AND ({', '.join(f'{name}.{k}' for k in keys)}) IN"
        f" (SELECT {', '.join(keys)} FROM {staging.name} WHERE batch_id = :b)"
        if sqlite
        else ""
    )
    conn.execute(
        text(
            f"DELETE FROM {name} WHERE {province} = :p AND crm_cust_id IN ({customers.ids()})"
            f" AND NOT EXISTS (SELECT 1 FROM {staging.name} s WHERE s.batch_id = :b"
            f"  AND {match})"
        ),
        params,
    )
    conn.execute(
        text(
            f"UPDATE {name} SET {_set(values)}, batch_id = :b FROM {staging.name} s"
            f" WHERE s.batch_id = :b AND {name}.province = :p AND {match}{batch_keys}"
            f" AND ({_changed(name, values)})"
        ),
        params,
    )
    existing = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    conn.execute(
        text(
            f"INSERT INTO {name} (province, {columns}, batch_id)"
            f" SELECT :p, {columns}, :b FROM {staging.name} s WHERE s.batch_id = :b"
            f" AND NOT EXISTS (SELECT 1 FROM {name} t WHERE t.province = :p AND {existing})"
        ),
        params,
    )


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


def _customer_counts(
    conn: Connection, params: dict[str, object], customers: _BatchCustomers
) -> dict[str, int]:
    """The batch's CRM customers, and how many of them are qualified. On a first load
    every staged customer is both (one count of the staged rows, no join)."""
    if customers.registered:
        staged = int(
            conn.execute(
                text(f"SELECT count(*) FROM {customers.table} WHERE batch_id = :b"), params
            ).scalar_one()
        )
        return {"customers": staged, "qualified": staged}
    row = conn.execute(
        text(
            "SELECT count(*), coalesce(sum(CASE WHEN s.qualified THEN 1 ELSE 0 END), 0)"
            f" FROM {customers.rows} WHERE s.batch_id = :b{customers.where}"
        ),
        params,
    ).one()
    return {"customers": int(row[0]), "qualified": int(row[1])}


def _counts(conn: Connection, batch_id: int, accounts: Table) -> dict[str, int]:
    def count(table: Table) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.batch_id == batch_id)
            ).scalar_one()
        )

    return {"accounts": count(accounts), "rejects": count(stg_reject)}
