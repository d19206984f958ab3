"""The publication's set-based statements: make the CRM tables hold the staged batch.

Each writes one CRM table from its staging table for the batch's CRM customers: changed
rows are updated (a row whose content did not change keeps the `batch_id` that last
changed it), new ones inserted, rows no longer sent deleted. An update then an anti-join
insert rather than `INSERT ... ON CONFLICT`: PostgreSQL's speculative insertion makes
that two to three times slower on millions of rows, and publications of one province are
serialized anyway (load.publish). On a province's first publication into a table there
is nothing to update or delete: a plain insert.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table

from common.batch import DELTA_CHANGED, DELTA_REMOVED, DELTA_SAME
from load.customer_scope import BatchCustomers
from load.sql import text
from load.tables import (
    crm_account,
    crm_contact,
    crm_customer_source,
    stg_account,
    stg_contact,
    stg_customer_source,
)

# Published table <- staging table: (key columns, value columns). `province` and
# `batch_id` are filled in by the publication.
UPSERTS: list[tuple[Table, Table, list[str], list[str]]] = [
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


def publish_customers(
    conn: Connection, params: dict[str, object], customers: BatchCustomers, *, first: bool
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


# Staged rows that are rows, not removed keys (a daily batch's marks, load.tables.staging).
_LIVE = f"(s.delta IS NULL OR s.delta <> '{DELTA_REMOVED}')"


def publish_rows(
    conn: Connection,
    params: dict[str, object],
    customers: BatchCustomers,
    target: Table,
    staging: Table,
    keys: list[str],
    values: list[str],
    *,
    first: bool,
    by_delta: bool = False,
) -> None:
    """Make `target` hold the staged rows for the batch's CRM customers.

    Whole (`by_delta` false: an initial load, or a batch that replaces a published one):
    the rows of those customers that are not staged are deleted, a row that moved from
    another customer (an account relinked after an ID correction) is taken over, and a row
    whose content did not change keeps the `batch_id` that last changed it.

    `by_delta` (a daily batch over the previous date as published): only the rows marked
    `changed` are looked up and written, the keys marked `removed` deleted, and the rows
    marked `same` inserted only for the customers this publication makes CRM customers
    (their rows were not in the CRM before); every other `same` row is in the CRM as it
    is (crm_pipeline.daily.delta).

    `first`: `target` holds no row of the province, so there is nothing to delete or
    update and the staged rows are inserted as they are (no anti-join against the table
    being filled, see `publish_customers`).
    """
    columns = ", ".join([*keys, *values])
    name = target.name
    if first:
        conn.execute(
            text(
                f"INSERT INTO {name} (province, {columns}, batch_id)"
                f" SELECT :p, {columns}, :b FROM {staging.name} s WHERE s.batch_id = :b"
                f" AND {_LIVE}"
            ),
            params,
        )
        return
    match = " AND ".join(f"s.{k} = {name}.{k}" for k in keys)
    # SQLite's planner (no statistics) prefers the province's prefix of the primary key to
    # any other index, so these statements would visit every row of the province (a daily
    # batch's few thousand rows among hundreds of thousands). There, `+province` keeps
    # the province's test but not that index, so the DELETE goes through the customer
    # index (or the key); and the UPDATE names the batch's keys, so it looks each one up
    # in the key. PostgreSQL (statistics, and partition pruning on a plain
    # `province = :p`) keeps the plain form.
    sqlite = conn.dialect.name == "sqlite"
    province = "+province" if sqlite else "province"
    key_list = ", ".join(keys)
    written = f"s.delta = '{DELTA_CHANGED}'" if by_delta else _LIVE
    batch_keys = (
        f" AND ({', '.join(f'{name}.{k}' for k in keys)}) IN"
        f" (SELECT {key_list} FROM {staging.name} s WHERE s.batch_id = :b AND {written})"
        if sqlite
        else ""
    )
    if by_delta:
        conn.execute(
            text(
                f"DELETE FROM {name} WHERE {province} = :p AND ({key_list}) IN"
                f" (SELECT {key_list} FROM {staging.name} s WHERE s.batch_id = :b"
                f"  AND s.delta = '{DELTA_REMOVED}')"
            ),
            params,
        )
    else:
        conn.execute(
            text(
                f"DELETE FROM {name} WHERE {province} = :p AND crm_cust_id IN ({customers.ids()})"
                f" AND NOT EXISTS (SELECT 1 FROM {staging.name} s WHERE s.batch_id = :b"
                f"  AND {match} AND {_LIVE})"
            ),
            params,
        )
    conn.execute(
        text(
            f"UPDATE {name} SET {_set(values)}, batch_id = :b FROM {staging.name} s"
            f" WHERE s.batch_id = :b AND {written} AND {name}.province = :p AND {match}"
            f"{batch_keys} AND ({_changed(name, values)})"
        ),
        params,
    )
    # A staged row's customer is one of the batch's; it is new to the CRM when this
    # publication inserted it (a look-up by its number: an IN of the batch's new customers
    # was planned on PostgreSQL as a scan per staged row).
    inserted = (
        f"(s.delta = '{DELTA_CHANGED}' OR (s.delta = '{DELTA_SAME}' AND EXISTS (SELECT 1"
        " FROM crm_customer c WHERE c.crm_cust_id = s.crm_cust_id AND c.first_batch_id = :b)))"
        if by_delta
        else _LIVE
    )
    existing = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    conn.execute(
        text(
            f"INSERT INTO {name} (province, {columns}, batch_id)"
            f" SELECT :p, {columns}, :b FROM {staging.name} s WHERE s.batch_id = :b"
            f" AND {inserted}"
            f" AND NOT EXISTS (SELECT 1 FROM {name} t WHERE t.province = :p AND {existing})"
        ),
        params,
    )


def customer_counts(
    conn: Connection, params: dict[str, object], customers: BatchCustomers
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
