"""Which customer records a day touched: the only ones a daily run merges and scores again.

A merged customer is touched when one of its source records was added, updated or
deleted; when a record's merge key changed (an identification number corrected, or an
organization code that now resolves to a newly sent credit code); when one of its
accounts was added, changed, closed, removed or moved to another customer (old and new
owner); and when one of its accounts moved with the day's rates or export filter
(`revalue`). Every one of these is found from the day's change rows and the records they
name, by *identity* (`transform.partition.identity_keys`: customer type and organization
code, else identification type and number), not by merging the province: records that can
merge always share an identity, so the records of the touched identities merge alone
exactly as in the province (issue 21; before, the province was re-keyed every night, and
merged whole when a subset's keys disagreed with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from crm_pipeline.daily.inputs import CUSTOMER_KEY
from transform.changes import Applied, composite_key
from transform.partition import identity_keys


@dataclass(frozen=True)
class Touched:
    """The records of the identities a day touched, before and after its changes.

    `old` merges into the merged customers the day may have changed or removed, `new` into
    what they are now; a merged customer of `old` whose key `new` does not give any more is
    gone (its CRM customer loses its records).
    """

    old: pa.Table  # SOURCE_CUSTOMER, old state
    new: pa.Table  # SOURCE_CUSTOMER, new state


def account_owners(accounts: Applied, revalued: pa.Table, moved: pa.Array) -> pa.Table:
    """(source, cust_no) of the owners of every account the day changed or moved: the
    new owner of a changed account, its old owner, and the holder of a revalued one."""
    return pa.concat_tables(
        [
            accounts.applied.select(CUSTOMER_KEY),
            accounts.replaced.select(CUSTOMER_KEY),
            revalued.filter(moved).select(CUSTOMER_KEY),
        ]
    )


def _identities(table: pa.Table) -> pa.Array:
    keys = identity_keys(table)
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


def touched_records(applied: Applied, owners: pa.Table) -> Touched:
    """The old and new records of every identity the day touched.

    `applied` is the customer change list applied to the old state (`applied.old`): the
    identities of the records it replaced and wrote, and those of the records owning an
    account the day changed or moved, on either side. One pass over the province's
    identities and customer numbers; only the touched records are copied.
    """
    old = applied.old
    old_ids = _identities(old)
    written_ids = _identities(applied.written)
    owner_keys = composite_key(owners, CUSTOMER_KEY)
    owns_old = pc.is_in(applied.old_key(CUSTOMER_KEY), value_set=owner_keys)
    owns_written = pc.is_in(composite_key(applied.written, CUSTOMER_KEY), value_set=owner_keys)
    touched = pc.unique(
        pa.concat_arrays(
            [
                _identities(applied.replaced),
                written_ids,
                pc.filter(old_ids, owns_old),
                pc.filter(written_ids, owns_written),
            ]
        )
    )
    old_mask = pc.is_in(old_ids, value_set=touched)
    return Touched(
        old=old.filter(old_mask),
        new=applied.where(old_mask, pc.is_in(written_ids, value_set=touched)),
    )
