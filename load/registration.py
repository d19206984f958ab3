"""Stable CRM customer numbers: register a batch's new qualified customers in
`crm_customer_key`, and resolve which of its customers are CRM customers.

A number, once given to (province, cust_type, id_type, id_no), is never given again nor
to another identity. A province's first registration on PostgreSQL reserves its numbers
in one block and copies the rows in on two connections (`_register_all`).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine

from load import prepare
from load.bulk import copy_rows
from load.control import batch_checkpoint, now, record_checkpoint
from load.customer_scope import BatchCustomers, customer_table_of, stages_qualified_only
from load.sql import c_order, literal, text
from load.tables import crm_customer_key


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
    is joined from the registry where it is used (`BatchCustomers`) instead of written
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
        order = c_order(engine, "s.cust_type", "s.id_type", "s.id_no")
        insert = (
            "INSERT INTO crm_customer_key"
            " (province, cust_type, id_type, id_no, batch_id, assigned_at)"
            " SELECT :p, s.cust_type, s.id_type, s.id_no, :b, :now"
            f" FROM {customer_table_of(conn, batch_id)} s"
            " WHERE s.batch_id = :b AND s.qualified AND NOT EXISTS ("
            "  SELECT 1 FROM crm_customer_key k WHERE k.province = :p"
            "  AND k.cust_type = s.cust_type AND k.id_type = s.id_type"
            "  AND k.id_no = s.id_no)"
            f" ORDER BY {order}{conflict}"
        )
        qualified_only = stages_qualified_only(conn, batch_id)
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
    if len(cust_keys) == 0:  # nothing to number (a night whose every customer is set aside):
        return cust_keys, pa.array([], pa.int64())  # setval(..., 0) is out of bounds
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
        customers = BatchCustomers.of(conn, batch_id)
    query = (
        f"SELECT s.cust_key, {customers.id} FROM {customers.rows}"
        f" WHERE s.batch_id = :b{customers.where}"
    )
    if engine.dialect.name == "postgresql":
        sql = query.replace(":b", str(int(batch_id))).replace(":p", literal(province))
        with engine.connect() as conn:
            return _copy_ids(conn, f"COPY ({sql}) TO STDOUT (FORMAT csv)")
    with engine.connect() as conn:
        rows = conn.execute(text(query), {"b": batch_id, "p": province}).all()
    return (
        pa.array([row[0] for row in rows], pa.string()),
        pa.array([row[1] for row in rows], pa.int64()),
    )
