"""Which of a batch's customers are staged, and the SQL that names its CRM customers.

The CRM customers of a batch are its qualified customers and those already in
crm_customer. On a province's first load only the qualified ones can be (see
`customer_scope`), so only those are staged, into a table of the batch's own on
PostgreSQL (load.batch_tables.customer_table), and their numbers are joined from the
registry rather than written into the staged rows (`BatchCustomers`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Connection, Engine

from common.batch import ProvinceBatch
from load import batch_tables
from load.batches import province_empty
from load.control import batch_checkpoint, record_checkpoint
from load.delta_basis import by_delta
from load.sql import text
from load.tables import crm_customer

# A batch's customer scope, recorded as this stream's checkpoint before its first customer
# is staged, so that a restart stages the same rows (chunk boundaries) again.
SCOPE_STREAM = "customer_scope"
QUALIFIED_ONLY, EVERY_CUSTOMER = "qualified", "all"


# Whether a batch's source records, contacts and accounts are staged by their changes only
# (`row_scope`), recorded as this stream's checkpoint before the first of them is staged.
ROW_STREAM = "row_scope"
CHANGES_ONLY, EVERY_ROW = "changes", "all"


class ScopeChanged(Exception):
    """A first load staged its qualified customers only, and another batch of the province
    was published meanwhile: its customers that are not qualified any more would be missed.
    The batch is abandoned and written again (load.batch_writer.write_batch)."""


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
    return _decided_once(
        engine, batch_id, step_id, SCOPE_STREAM, (QUALIFIED_ONLY, EVERY_CUSTOMER),
        lambda conn: province_empty(conn, crm_customer, province),
    )  # fmt: skip


def _decided_once(
    engine: Engine,
    batch_id: int,
    step_id: int | None,
    stream: str,
    answers: tuple[str, str],
    decide: Callable[[Connection], bool],
) -> bool:
    """A batch's yes-or-no choice, taken by `decide` the first time and recorded as
    `stream`'s checkpoint (`answers`: how yes and no are written); a restart reads it back
    instead of deciding again."""
    with engine.begin() as conn:
        last = batch_checkpoint(conn, batch_id, stream)
        if last is not None:
            return last.position == answers[0]
        yes = decide(conn)
        record_checkpoint(
            conn,
            step_id=step_id,
            batch_id=batch_id,
            stream=stream,
            chunk=1,
            position=answers[0] if yes else answers[1],
        )
    return yes


def _recorded(conn: Connection, batch_id: int, stream: str, answer: str) -> bool:
    """Whether the batch's choice recorded as `stream` is `answer`."""
    last = batch_checkpoint(conn, batch_id, stream)
    return last is not None and last.position == answer


class BasisChanged(ScopeChanged):
    """A daily batch staged by its changes only can no longer be published by them (the
    CRM's newest publication of the province is not its basis any more): the rows it did
    not stage would be missed. The batch is abandoned and written again, whole."""


def row_scope(
    engine: Engine, batch: ProvinceBatch, batch_id: int, step_id: int | None, *, allowed: bool
) -> bool:
    """Whether the batch's source records, contacts and accounts are staged by their
    changes only (True): the rows it marks `changed` or `removed` (load.prepare: `moved`
    too), and its `same` rows only for the customers it makes CRM customers
    (`fresh_customers`), the only ones of them the publication writes
    (load.upserts.publish_rows, `by_delta`). A 1 % day at 2 M customers stages a third of
    the accounts of the customers it touched, and next to none of their source records and
    contacts.

    Only for a batch that would be published by its marks now (load.delta_basis.by_delta),
    when `allowed` (not after such a batch was abandoned, `BasisChanged`). Decided once per
    batch and recorded, so that a restart stages the same rows; the publication checks it
    still holds.
    """
    return _decided_once(
        engine, batch_id, step_id, ROW_STREAM, (CHANGES_ONLY, EVERY_ROW),
        lambda conn: (
            allowed and not stages_qualified_only(conn, batch_id) and by_delta(conn, batch)
        ),
    )  # fmt: skip


def stages_changes_only(conn: Connection, batch_id: int) -> bool:
    """Whether the batch staged its rows by their changes only (`row_scope`)."""
    return _recorded(conn, batch_id, ROW_STREAM, CHANGES_ONLY)


def fresh_customers(engine: Engine, batch_id: int) -> pa.Array:
    """The numbers of the batch's CRM customers that are not in crm_customer yet: those
    its publication inserts, whose unchanged rows it inserts too (a batch staged with
    every customer, after `assign_ids`)."""
    with engine.connect() as conn:
        numbers = conn.execute(
            text(
                "SELECT s.crm_cust_id FROM stg_customer s WHERE s.batch_id = :b"
                " AND s.crm_cust_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM crm_customer c"
                "  WHERE c.crm_cust_id = s.crm_cust_id)"
            ),
            {"b": batch_id},
        ).scalars()
        return pa.array(list(numbers), pa.int64())


def stages_qualified_only(conn: Connection, batch_id: int) -> bool:
    """Whether the batch stages its qualified customers only (a province's first load)."""
    return _recorded(conn, batch_id, SCOPE_STREAM, QUALIFIED_ONLY)


def customer_table_of(conn: Connection, batch_id: int) -> str:
    """Where the batch's customers are staged (load.batch_tables.customer_table)."""
    return batch_tables.customer_table(
        conn.dialect.name, batch_id, qualified_only=stages_qualified_only(conn, batch_id)
    )


@dataclass(frozen=True)
class BatchCustomers:
    """The batch's CRM customers in SQL, as `SELECT {id}, s.... FROM {rows} WHERE
    s.batch_id = :b{where}` (`:p` the province): the rows `s` staged in `table` whose
    number `assign_ids` resolved into `stg_customer.crm_cust_id`, or, on a first load
    (every staged customer qualified and registered), every staged row joined to its
    registry row `k`."""

    table: str
    registered: bool  # every staged row is a CRM customer (the first form)

    @classmethod
    def of(cls, conn: Connection, batch_id: int) -> BatchCustomers:
        return cls(customer_table_of(conn, batch_id), stages_qualified_only(conn, batch_id))

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
