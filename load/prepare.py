"""Shaping a ProvinceBatch's Arrow tables into the staging tables' columns (pure functions).

The batch's big tables are in-memory Arrow tables or TableParts (Parquet parts, part i of
every table holding the same customers); everything here works on one part at a time
(`read_part`; an in-memory table is one part), so the load holds one part, never a whole
province on disk.

Only the rows of the batch's CRM customers go to the warehouse: `attach_ids` keeps the rows
whose merged customer has a `crm_cust_id` (resolved in the database) and adds that id,
preserving row order so that a restart slices the very same chunks again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from common.batch import (
    DELTA_CHANGED,
    DELTA_MOVED,
    DELTA_REMOVED,
    DELTA_SAME,
    BatchTable,
    ProvinceBatch,
)
from common.intermediate import read_table
from common.schema import MONEY

CNY = pa.decimal128(38, 8)


def _column(table: pa.Table, name: str, kind: pa.DataType, default: object = None) -> pa.Array:
    if name in table.column_names:
        return table.column(name).cast(kind)
    return pa.array([default] * table.num_rows, kind)


def split_key(cust_key: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """`cust_type|id_type|id_no` into its three parts: the identity the stable ids use.

    The key is taken from `cust_key` rather than the master record's columns because it is
    the merged identity (an organization code already resolved to its credit code).
    """
    if isinstance(cust_key, pa.ChunkedArray):
        cust_key = cust_key.combine_chunks()
    parts = pc.split_pattern(cust_key, "|", max_splits=2)
    bad = pc.not_equal(pc.list_value_length(parts), 3)
    if pc.any(bad).as_py():
        sample = pc.filter(cust_key, bad)[0].as_py()
        raise ValueError(f"cust_key {sample!r} is not 'cust_type|id_type|id_no'")
    return (
        pc.list_element(parts, 0),
        pc.list_element(parts, 1),
        pc.list_element(parts, 2),
    )


# Columns each shaping function reads (optional ones may be absent): a part on disk is
# read with only these.
CUSTOMER_COLUMNS = [
    "cust_key",
    "id_valid",
    "name",
    "master_source",
    "master_cust_no",
    "source_count",
    "score",
    "formula_id",
    "qualified",
]
# `delta`: a daily batch's mark of each row against the previous date (load.tables.staging's
# DELTA_*; crm_pipeline.daily.delta), staged as it is; an initial batch has none.
LINK_COLUMNS = ["source", "cust_no", "cust_key", "role", "delta"]
CONTACT_COLUMNS = ["source", "cust_no", "phone", "mobile", "address", "postcode", "delta"]
ACCOUNT_COLUMNS = [
    "source",
    "acct_no",
    "cust_key",
    "cust_no",
    "kind",
    "currency",
    "balance",
    "balance_cny",
    "status",
    "in_scope",
    "open_date",
    "maturity_date",
    "delta",
]


def part_count(table: BatchTable) -> int:
    """How many parts `table` has (an in-memory table is one)."""
    return 1 if isinstance(table, pa.Table) else len(table)


def read_part(table: BatchTable, index: int, columns: Sequence[str]) -> pa.Table:
    """Part `index` of `table`, only the `columns` it has (read from disk only now).

    On one thread: parts are read beside the COPYs of other streams (load.batch_writer),
    which keep the cores busy; Arrow's pool would only add its threads' overhead."""
    if isinstance(table, pa.Table):
        assert index == 0, index
        return table.select([c for c in columns if c in table.column_names])
    present = [c for c in columns if c in table.column_names]
    return read_table(table.paths[index], present, table.schema)


def customer_keys(table: pa.Table, *, qualified_only: bool) -> pa.Table:
    """The rows of one part of the customers that are staged (`customers` keeps these):
    every one, or only the qualified ones."""
    if not qualified_only:
        return table
    return table.filter(pc.fill_null(table.column("qualified").cast(pa.bool_()), False))


def customers(table: pa.Table, *, qualified_only: bool = False) -> pa.Table:
    """stg_customer rows of one part: its merged customers with their scores (only the
    qualified ones with `qualified_only`)."""
    table = customer_keys(table, qualified_only=qualified_only)
    cust_type, id_type, id_no = split_key(table.column("cust_key"))
    return pa.table(
        {
            "cust_key": table.column("cust_key").cast(pa.string()),
            "cust_type": cust_type,
            "id_type": id_type,
            "id_no": id_no,
            "id_valid": _column(table, "id_valid", pa.bool_(), True),
            "name": _column(table, "name", pa.string()),
            "master_source": table.column("master_source").cast(pa.string()),
            "master_cust_no": table.column("master_cust_no").cast(pa.string()),
            "source_count": _column(table, "source_count", pa.int32(), 1),
            "score": table.column("score").cast(MONEY),
            "formula_id": table.column("formula_id").cast(pa.string()),
            "qualified": table.column("qualified").cast(pa.bool_()),
        }
    )


def attach_ids(
    table: pa.Table, keys: pa.Array, lookup: pa.Array, ids: pa.Array
) -> tuple[pa.Table, pa.Array]:
    """Rows of `table` whose `keys` value is in `lookup`, and the matching `ids`, in order.

    A daily batch's marked rows (`delta`, common.batch) are staged with the marks the
    publication takes: MOVED as CHANGED; and a row moved to a customer outside the CRM as
    REMOVED, without a number (the CRM must not keep the key under the CRM customer it
    had). The other rows of customers outside the CRM were never in the CRM: not staged."""
    taken = pc.take(ids, pc.index_in(keys, value_set=lookup))  # null: no CRM customer
    found = pc.is_valid(taken)
    if "delta" not in table.column_names:
        return table.filter(found), taken.filter(found)
    moved = pc.equal(table.column("delta"), DELTA_MOVED)
    keep = pc.or_(found, moved)
    kept, kept_ids, kept_moved = table.filter(keep), taken.filter(keep), moved.filter(keep)
    delta = pc.if_else(
        pc.is_valid(kept_ids),
        pc.if_else(kept_moved, DELTA_CHANGED, kept.column("delta")),
        DELTA_REMOVED,
    )
    kept = kept.set_column(kept.schema.get_field_index("delta"), "delta", delta)
    return kept, kept_ids


def changes(rows: pa.Table, fresh: pa.Array) -> pa.Table:
    """The staged rows (stg_customer_source, stg_contact or stg_account, marked) that a
    publication by the marks writes: every one not marked `same`, and the `same` ones of the
    customers it makes CRM customers (`fresh`, their numbers: new to the CRM, their rows
    are inserted whole)."""
    same = pc.equal(rows.column("delta"), DELTA_SAME)
    entering = pc.is_in(rows.column("crm_cust_id"), value_set=fresh)
    return rows.filter(pc.or_(pc.fill_null(pc.invert(same), True), pc.fill_null(entering, False)))


def live_rows(rows: pa.Table) -> int:
    """How many of the staged rows are rows, not keys marked `removed`."""
    if "delta" not in rows.column_names:
        return rows.num_rows
    removed = pc.equal(rows.column("delta"), DELTA_REMOVED)
    return rows.num_rows - int(pc.sum(pc.fill_null(removed, False)).as_py() or 0)


def ids_by_part(
    part_keys: Sequence[pa.Array], cust_keys: pa.Array, cust_ids: pa.Array
) -> list[tuple[pa.Array, pa.Array]]:
    """Split the batch's (cust_key, crm_cust_id) by part: `part_keys[i]` are the customer
    keys staged from part i; the result's item i holds those that are CRM customers and
    their ids. One hash of the batch's CRM keys for all parts, so that each part's
    links and accounts are then looked up among the part's own customers only."""
    if not part_keys:
        return []
    every = pa.chunked_array(part_keys, pa.string()).combine_chunks()
    position = pc.index_in(every, value_set=cust_keys)
    result, start = [], 0
    for keys in part_keys:
        where = position.slice(start, len(keys))
        keep = pc.is_valid(where)
        result.append((pc.filter(keys, keep), pc.take(cust_ids, pc.filter(where, keep))))
        start += len(keys)
    return result


def _source_key(
    source: pa.ChunkedArray | pa.Array, cust_no: pa.ChunkedArray | pa.Array
) -> pa.Array:
    return pc.binary_join_element_wise(source, cust_no, "\x1f")


def _delta(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """The rows' `delta` column when the batch marks its rows (a daily batch), else none."""
    if "delta" not in table.column_names:
        return {}
    return {"delta": table.column("delta").cast(pa.string())}


def links(table: pa.Table, cust_keys: pa.Array, cust_ids: pa.Array) -> pa.Table:
    """stg_customer_source rows of the CRM customers (one part of CUSTOMER_LINK)."""
    kept, ids = attach_ids(table, table.column("cust_key"), cust_keys, cust_ids)
    return pa.table(
        {
            "source": kept.column("source").cast(pa.string()),
            "source_cust_no": kept.column("cust_no").cast(pa.string()),
            "crm_cust_id": ids.cast(pa.int64()),
            "role": kept.column("role").cast(pa.string()),
            **_delta(kept),
        }
    )


def contacts(table: pa.Table, staged_links: pa.Table) -> pa.Table:
    """stg_contact rows: contact details of every source record of the CRM customers
    (one part of SOURCE_CUSTOMER, and the stg_customer_source rows of the same part)."""
    kept, ids = attach_ids(
        table,
        _source_key(table.column("source"), table.column("cust_no")),
        _source_key(staged_links.column("source"), staged_links.column("source_cust_no")),
        staged_links.column("crm_cust_id").combine_chunks(),
    )
    return pa.table(
        {
            "source": kept.column("source").cast(pa.string()),
            "source_cust_no": kept.column("cust_no").cast(pa.string()),
            "crm_cust_id": ids.cast(pa.int64()),
            "phone": _column(kept, "phone", pa.string()),
            "mobile": _column(kept, "mobile", pa.string()),
            "address": _column(kept, "address", pa.string()),
            "postcode": _column(kept, "postcode", pa.string()),
            **_delta(kept),
        }
    )


def accounts(table: pa.Table, cust_keys: pa.Array, cust_ids: pa.Array) -> pa.Table:
    """stg_account rows: every account, all systems, of the CRM customers (one part)."""
    kept, ids = attach_ids(table, table.column("cust_key"), cust_keys, cust_ids)
    return pa.table(
        {
            "source": kept.column("source").cast(pa.string()),
            "acct_no": kept.column("acct_no").cast(pa.string()),
            "crm_cust_id": ids.cast(pa.int64()),
            "source_cust_no": kept.column("cust_no").cast(pa.string()),
            "kind": kept.column("kind").cast(pa.string()),
            "currency": kept.column("currency").cast(pa.string()),
            "balance": kept.column("balance").cast(MONEY),
            "balance_cny": kept.column("balance_cny").cast(CNY),
            "status": kept.column("status").cast(pa.string()),
            "in_scope": _column(kept, "in_scope", pa.bool_(), True),
            "open_date": _column(kept, "open_date", pa.date32()),
            "maturity_date": _column(kept, "maturity_date", pa.date32()),
            **_delta(kept),
        }
    )


def rejects(batch: ProvinceBatch) -> pa.Table:
    """stg_reject rows: every record set aside, numbered in the batch's order."""
    table = batch.rejects
    return pa.table(
        {
            "seq": pa.array(range(1, table.num_rows + 1), pa.int32()),
            "file": table.column("file").cast(pa.string()),
            "line": table.column("line").cast(pa.int64()),
            "raw": table.column("raw").cast(pa.string()),
            "reason": table.column("reason").cast(pa.string()),
            "field": _column(table, "field", pa.string()),
            "branch": table.column("branch").cast(pa.string()),
        }
    )


def qualified_count(table: BatchTable) -> int:
    """Qualified customers of the batch, reading only that column, part by part."""
    total = 0
    for index in range(part_count(table)):
        column = read_part(table, index, ["qualified"]).column("qualified")
        total += pc.sum(column.cast(pa.int64())).as_py() or 0
    return total


def fingerprint(batch: ProvinceBatch) -> str:
    """Identifies a batch's content well enough to refuse resuming a different one.

    Sizes (a table on disk: from its parts' Parquet metadata), qualified customers (that
    one column, part by part), the digest of the run's inputs (a file re-sent with the same
    counts is other content), and the number of parts when there are several: chunks
    never span parts, so a restart must cut the tables into the same parts.
    """
    sizes = [
        batch.customers.num_rows,
        batch.links.num_rows,
        batch.source_customers.num_rows,
        batch.accounts.num_rows,
        batch.rejects.num_rows,
        len(batch.files),
    ]
    text = "/".join(str(n) for n in [*sizes, qualified_count(batch.customers)])
    if batch.inputs:
        text += "/inputs=" + hashlib.sha256(batch.inputs.encode()).hexdigest()[:16]
    parts = part_count(batch.customers)
    return text if parts == 1 else f"{text}/parts={parts}"
