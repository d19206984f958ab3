"""Which merged customers a day touched: the only ones a daily run re-merges and re-scores."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from crm_pipeline.daily.inputs import CUSTOMER_KEY
from transform.changes import Applied, composite_key
from transform.merge import resolve_keys


@dataclass(frozen=True)
class Touched:
    """The merged customers a day touched: those to re-merge and re-score.

    A merged customer is touched when one of its source records was added, updated or
    deleted; when a record's merge key changed (an identification number corrected, or an
    organization code that now resolves to a newly sent credit code), on both sides; when
    one of its accounts was added, changed, closed, removed or moved to another customer
    (old and new owner); and when one of its accounts moved with the day's rates or
    export filter (`revalue`). `keys` are the keys of the new state to re-merge; `gone`
    the keys of the old state that no longer exist (their CRM customer loses its records).
    """

    keys: pa.Array
    gone: pa.Array


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


def touched_keys(
    old_customers: pa.Table,
    applied: Applied,
    account_owners: pa.Table,
) -> tuple[Touched, pa.Array, pa.Array]:
    """(Touched, old keys aligned with `old_customers`, new keys with `applied.table`).

    `applied` is the customer change list applied to `old_customers`: its table starts
    with the old records it left alone, in their order, so a key that changed without its
    record changing (an organization code resolved anew) is found by comparing the two
    key columns row by row, with no look-up over the province.
    """
    new_customers = applied.table
    old_keys = resolve_keys(old_customers).column("cust_key").combine_chunks()
    new_keys = resolve_keys(new_customers).column("cust_key").combine_chunks()
    assert applied.kept is not None
    before = pc.filter(old_keys, applied.kept)
    after = new_keys.slice(0, applied.untouched)
    rekeyed = pc.not_equal(before, after)
    old_ids = composite_key(old_customers, CUSTOMER_KEY)
    new_ids = composite_key(new_customers, CUSTOMER_KEY)
    changed = composite_key(applied.applied, CUSTOMER_KEY)
    owners = composite_key(account_owners, CUSTOMER_KEY)
    wanted = pc.unique(
        pa.concat_arrays(
            [
                pc.filter(old_keys, pc.is_in(old_ids, value_set=changed)),
                pc.filter(
                    new_keys, pc.is_in(new_ids, value_set=pa.concat_arrays([changed, owners]))
                ),
                pc.filter(before, rekeyed),
                pc.filter(after, rekeyed),
            ]
        )
    )
    alive = pc.unique(pc.filter(new_keys, pc.is_in(new_keys, value_set=wanted)))
    gone = pc.filter(wanted, pc.invert(pc.is_in(wanted, value_set=alive)))
    return Touched(keys=alive, gone=gone), old_keys, new_keys
