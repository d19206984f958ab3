"""Which of a batch's customers are staged, and the SQL that names its CRM customers.

The CRM customers of a batch are its qualified customers and those already in
crm_customer. On a province's first load only the qualified ones can be (see
`customer_scope`), so only those are staged, into a table of the batch's own on
PostgreSQL (load.batch_tables.customer_table), and their numbers are joined from the
registry rather than written into the staged rows (`BatchCustomers`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from load import batch_tables
from load.batches import province_empty
from load.control import batch_checkpoint, record_checkpoint
from load.tables import crm_customer

# A batch's customer scope, recorded as this stream's checkpoint before its first customer
# is staged, so that a restart stages the same rows (chunk boundaries) again.
SCOPE_STREAM = "customer_scope"
QUALIFIED_ONLY, EVERY_CUSTOMER = "qualified", "all"


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
    with engine.begin() as conn:
        last = batch_checkpoint(conn, batch_id, SCOPE_STREAM)
        if last is not None:
            return last.position == QUALIFIED_ONLY
        first = province_empty(conn, crm_customer, province)
        record_checkpoint(
            conn,
            step_id=step_id,
            batch_id=batch_id,
            stream=SCOPE_STREAM,
            chunk=1,
            position=QUALIFIED_ONLY if first else EVERY_CUSTOMER,
        )
    return first


def stages_qualified_only(conn: Connection, batch_id: int) -> bool:
    """Whether the batch stages its qualified customers only (a province's first load)."""
    scope = batch_checkpoint(conn, batch_id, SCOPE_STREAM)
    return scope is not None and scope.position == QUALIFIED_ONLY


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
