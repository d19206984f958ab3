"""Shaping a ProvinceBatch's Arrow tables into the staging tables' columns (pure functions).

Only the rows of the batch's CRM customers go to the warehouse: `attach_ids` keeps the rows
whose merged customer has a `crm_cust_id` (resolved in the database) and adds that id,
preserving row order so that a restart slices the very same chunks again.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transform.batch import ProvinceBatch
from transform.schema import MONEY

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


def customers(batch: ProvinceBatch) -> pa.Table:
    """stg_customer rows: every merged customer of the batch, with its score."""
    table = batch.customers
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
    """Rows of `table` whose `keys` value is in `lookup`, and the matching `ids`, in order."""
    position = pc.index_in(keys, value_set=lookup)
    keep = pc.is_valid(position)
    return table.filter(keep), pc.take(ids, pc.filter(position, keep))


def _source_key(
    source: pa.ChunkedArray | pa.Array, cust_no: pa.ChunkedArray | pa.Array
) -> pa.Array:
    return pc.binary_join_element_wise(source, cust_no, "\x1f")


def links(batch: ProvinceBatch, cust_keys: pa.Array, cust_ids: pa.Array) -> pa.Table:
    """stg_customer_source rows of the CRM customers."""
    kept, ids = attach_ids(batch.links, batch.links.column("cust_key"), cust_keys, cust_ids)
    return pa.table(
        {
            "source": kept.column("source").cast(pa.string()),
            "source_cust_no": kept.column("cust_no").cast(pa.string()),
            "crm_cust_id": ids.cast(pa.int64()),
            "role": kept.column("role").cast(pa.string()),
        }
    )


def contacts(batch: ProvinceBatch, staged_links: pa.Table) -> pa.Table:
    """stg_contact rows: contact details of every source record of the CRM customers."""
    table = batch.source_customers
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
        }
    )


def accounts(batch: ProvinceBatch, cust_keys: pa.Array, cust_ids: pa.Array) -> pa.Table:
    """stg_account rows: every account, all systems, of the CRM customers."""
    table = batch.accounts
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


def fingerprint(batch: ProvinceBatch) -> str:
    """Identifies a batch's content well enough to refuse resuming a different one."""
    sizes = [
        batch.customers.num_rows,
        batch.links.num_rows,
        batch.source_customers.num_rows,
        batch.accounts.num_rows,
        batch.rejects.num_rows,
        len(batch.files),
    ]
    qualified = pc.sum(batch.customers.column("qualified").cast(pa.int64())).as_py() or 0
    return "/".join(str(n) for n in [*sizes, qualified])
