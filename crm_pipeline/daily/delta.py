"""Which rows of a daily batch differ from the previous date's: the publication writes those.

A daily batch holds every source record, contact and account of the customers the day
touched (the scoring needs them all), but most of those rows are as they were: a customer
re-scored for one account's balance keeps his other accounts, his records and contacts.
Each row of the batch's links, source records and accounts is marked `same`, `changed` or
`moved` (to another customer) against the previous date's state (the same identities'
records and accounts before the day), and the keys the previous date had and the day no
longer gives are added, marked `removed` (common.batch.DELTA_*). The publication then looks up and writes only the changed and removed rows of
customers already in the CRM (load.upserts.publish_rows): at 2 M customers, a 1 % day's
about 50,000 accounts instead of the 170,000 of the customers it touched.

A row is `same` only when every column the CRM tables take from it is equal (nulls equal
to nulls) and its customer is the same merged customer; when in doubt it is `changed`
(the publication's `IS DISTINCT FROM` still skips a row whose published form is equal).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from common.batch import DELTA_CHANGED, DELTA_MOVED, DELTA_REMOVED, DELTA_SAME
from crm_pipeline.daily.inputs import ACCOUNT_KEY, CUSTOMER_KEY
from transform.changes import composite_key

DELTA = "delta"

# The columns of each batch table the CRM tables are written from (load.prepare), besides
# the key; `cust_key` stands for the CRM customer number.
LINK_VALUES = ["cust_key", "role"]
CONTACT_VALUES = ["cust_key", "phone", "mobile", "address", "postcode"]
ACCOUNT_VALUES = [
    "cust_key", "cust_no", "kind", "currency", "balance", "balance_cny", "status", "in_scope",
    "open_date", "maturity_date",
]  # fmt: skip


def _equal(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Element-wise equality where two nulls are equal and a null and a value are not."""
    if a.type != b.type:
        b = b.cast(a.type)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.or_(pc.fill_null(pc.equal(a, b), False), both_null)


def mark(new: pa.Table, old: pa.Table, key: Sequence[str], values: Sequence[str]) -> pa.Table:
    """`new` with a `delta` column, followed by `old`'s rows whose key `new` does not have,
    marked `removed` (in `new`'s columns; those `old` lacks are null).

    A row of `new` is `same` when `old` has its key with equal `values`, `moved` when `old`
    has its key under another customer (`cust_key`, the first of `values`), else
    `changed`."""
    new_ids, old_ids = composite_key(new, key), composite_key(old, key)
    at = pc.index_in(new_ids, value_set=old_ids)
    found = pc.is_valid(at)
    same, moved = found, pa.array([False] * new.num_rows, pa.bool_())
    if old.num_rows:
        before = old.select(list(values)).take(at)
        moved = pc.and_(found, pc.invert(_equal(new.column("cust_key"), before.column("cust_key"))))
        for name in values:
            same = pc.and_(same, _equal(new.column(name), before.column(name)))
    delta = pc.if_else(same, DELTA_SAME, pc.if_else(moved, DELTA_MOVED, DELTA_CHANGED))
    marked = new.append_column(DELTA, pa.chunked_array([delta], pa.string()))
    gone = old.filter(pc.invert(pc.is_in(old_ids, value_set=new_ids)))
    columns = [
        gone.column(f.name).cast(f.type) if f.name in gone.column_names
        else pa.nulls(gone.num_rows, f.type)
        for f in new.schema
    ]  # fmt: skip
    columns.append(pa.array([DELTA_REMOVED] * gone.num_rows, pa.string()))
    # A removed key's columns that `old` lacks are null, whatever `new` declares.
    marked = marked.cast(pa.schema([f.with_nullable(True) for f in marked.schema]))
    removed = pa.Table.from_arrays(columns, schema=marked.schema)
    return pa.concat_tables([marked, removed])


def with_owner(records: pa.Table, links: pa.Table) -> pa.Table:
    """`records` (SOURCE_CUSTOMER) with the `cust_key` their link in `links` gives."""
    ids = composite_key(links, CUSTOMER_KEY)
    at = pc.index_in(composite_key(records, CUSTOMER_KEY), value_set=ids)
    return records.append_column("cust_key", links.column("cust_key").take(at))


def marked_tables(
    new_links: pa.Table,
    old_links: pa.Table,
    new_records: pa.Table,
    old_records: pa.Table,
    new_accounts: pa.Table,
    old_accounts: pa.Table,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The batch's (links, source records, accounts) marked against the previous date's.

    `old_accounts` are the previous date's accounts of `old_records` (STATE_ACCOUNT);
    their customer is the one `old_links` gives their owner record.
    """
    links = mark(new_links, old_links, CUSTOMER_KEY, LINK_VALUES)
    records = mark(
        with_owner(new_records, new_links), with_owner(old_records, old_links),
        CUSTOMER_KEY, CONTACT_VALUES,
    ).drop_columns(["cust_key"])  # fmt: skip
    old_keyed = with_owner(old_accounts, old_links)  # an account's (source, cust_no): its owner
    accounts = mark(new_accounts, old_keyed, ACCOUNT_KEY, ACCOUNT_VALUES)
    return links, records, accounts
