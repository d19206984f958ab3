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

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from crm_pipeline.daily.inputs import CUSTOMER_KEY
from transform.changes import Applied, composite_key, rows_with_keys, selected
from transform.identity import CREDIT_CODE, org_code_in_credit_code
from transform.key_index import KeyIndex, mask_of, number_hashes, take_rows
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


def _numbers(records: pa.Table) -> pa.Array:
    """The numbers an identity of these records can be keyed by (their own, and for a
    credit code the organization code it embeds), empty ones left out."""
    id_no = records.column("id_no").combine_chunks().fill_null("")
    numbers = pa.concat_arrays([id_no, org_code_in_credit_code(id_no).cast(pa.string())])
    return pc.unique(pc.filter(numbers, pc.not_equal(numbers, "")))


def touched_records(
    applied: Applied, owners: pa.Table, indexes: Mapping[str, KeyIndex] | None = None
) -> Touched:
    """The old and new records of every identity the day touched.

    `applied` is the customer change list applied to the old state (`applied.old`): the
    identities of the records it replaced and wrote, and those of the records owning an
    account the day changed or moved, on either side. The province is searched by number
    only: with its `indexes` (`key` and `number`, crm_pipeline.state_index) the numbers'
    and owners' rows are looked up, else found by `is_in` over its `id_no` and customer
    keys, credit codes included (their organization code is read from the number).
    Identities are computed for the candidates found; only the touched records are copied.
    """
    indexes = indexes or {}
    old, written = applied.old, applied.written
    owner_keys = composite_key(owners, CUSTOMER_KEY)
    owns_old = rows_with_keys(old, CUSTOMER_KEY, owners, indexes.get("key"))
    if applied.live is not None:  # older versions kept in place are not the state
        owns_old = pc.and_(owns_old, applied.live)
    owns_written = pc.is_in(composite_key(written, CUSTOMER_KEY), value_set=owner_keys)
    seeds = pa.concat_tables(
        [applied.replaced, written.filter(owns_written), selected(old, owns_old)]
    ).combine_chunks()
    # own records (replaced, owners) + anything that may share their numbers
    numbers = _numbers(pa.concat_tables([seeds, written]))
    candidate = pc.or_(pc.invert(applied.kept), owns_old).to_numpy(zero_copy_only=False)
    candidate |= _sharing_numbers(old, numbers, indexes.get("number"))
    if applied.live is not None:
        candidate &= applied.live.to_numpy(zero_copy_only=False)
    touched = pc.unique(pa.concat_arrays([_identities(seeds), _identities(written)]))
    at = np.flatnonzero(candidate)
    narrow = old.select(["source", "cust_no", "cust_type", "id_type", "id_no"])  # no copy
    hit = pc.is_in(_identities(take_rows(narrow, at)), value_set=touched)
    mask = pa.array(mask_of(old.num_rows, at[hit.to_numpy(zero_copy_only=False)]))
    return Touched(
        old=selected(old, mask),
        new=applied.where(mask, pc.is_in(_identities(written), value_set=touched)),
    )


def _sharing_numbers(
    old: pa.Table, numbers: pa.Array, index: KeyIndex | None
) -> npt.NDArray[np.bool_]:
    """Mask over `old`: rows that may share an identity through one of `numbers` (a
    superset: the caller compares identities). Rows past the index, or all without one,
    by their `id_no`, and every credit code (its organization code is inside it)."""
    start = 0 if index is None else index.covered
    mask = np.zeros(old.num_rows, dtype=bool)
    if index is not None:
        mask[index.candidates(number_hashes(numbers))] = True
    if old.num_rows > start:
        rest = old.slice(start)
        probed = pc.or_(
            pc.is_in(rest.column("id_no"), value_set=numbers),
            pc.equal(rest.column("id_type"), CREDIT_CODE),
        )
        mask[start:] = pc.fill_null(probed, False).to_numpy(zero_copy_only=False)
    return mask
