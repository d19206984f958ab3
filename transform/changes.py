"""Applying a day's change lists (`A`/`U`/`D`) to the per-province state tables (pure).

The core systems send, after the initial load, only what changed (core-dumps.md section 8
"Daily actions"): `A` added, `U` updated (the whole new record), `D` deleted or closed. The
state is the pipeline's own copy of every system's customers or accounts; this module turns
yesterday's copy and today's validated change records into today's copy, and says exactly
what it did, so that the caller can re-merge and re-score only what the day touched.

The rules, applied to whole columns (no per-record Python):

- `A` and `U` replace the record of their key, or add it when the key is not known (a `U`
  for an unknown key is an add: the record is complete; an `A` for a known key is taken as
  the update it must be, since the core system says the record is there now).
- `D` for a known key removes the record (`removes` true: customer records, fund holdings)
  or replaces it by the record sent with it (accounts: "the full record with status `C` and
  zero balances; the account stays in the warehouse as closed").
- `D` for an unknown key changes nothing; it is *ignored* and reported, so that the file's
  reconciliation can count it (the pipeline counts it as filtered).

At most one action per key and file is guaranteed upstream (a key sent twice in one file
is set aside by ingestion, and twice in one province's files by conform), so the order of
the change rows does not matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from transform.key_index import KeyIndex, key_hashes, mask_of, take_rows

ACTION = "action"
ADD, UPDATE, DELETE = "A", "U", "D"
_SEP = "\x1f"  # never inside a key value (keys are cleaned text of the dumps)


@dataclass(frozen=True)
class Applied:
    """What applying one kind of change list did.

    table: the new state (same schema as the old one): untouched records first, in their
        old order, then the records the changes wrote, in change order. Built only when
        asked for: a daily run reads the rows it needs with `where` instead, so the
        province's untouched rows are never copied (issue 21).
    applied: the change rows that took effect (with `action`), aligned with nothing else.
    replaced: the old state records that the applied changes replaced or removed (their
        owners and keys are what the day touched on the old side).
    ignored: the change rows that took no effect (`D` of an unknown key).
    """

    old: pa.Table  # the state the changes were applied to
    kept: pa.Array  # mask over `old`: the rows kept as they were
    written: pa.Table  # the records the changes wrote, in change order (old's schema)
    applied: pa.Table
    replaced: pa.Table
    ignored: pa.Table
    live: pa.Array | None = None  # mask over `old`: its rows that were the state (None: all)

    @property
    def untouched(self) -> int:
        """How many of the old rows were kept (the first rows of `table`)."""
        return int(pc.sum(self.kept.cast(pa.int64())).as_py() or 0)

    @property
    def table(self) -> pa.Table:
        return pa.concat_tables([self.old.filter(self.kept), self.written])

    def where(
        self, old_mask: pa.Array, written_mask: pa.Array, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """The new state's rows chosen by a mask over `old` (kept rows only) and one over
        `written`, in `table`'s order (only `columns`, if given); only those are copied."""
        old, written = self.old, self.written
        if columns is not None:
            old, written = old.select(list(columns)), written.select(list(columns))
        return pa.concat_tables(
            [selected(old, pc.and_(self.kept, old_mask)), written.filter(written_mask)]
        )


def composite_key(table: pa.Table, key: Sequence[str]) -> pa.Array:
    """One string per row joining the key columns, for `is_in` look-ups across tables."""
    columns = [table.column(k).cast(pa.string()).fill_null("") for k in key]
    if len(columns) == 1:
        column = columns[0]
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    joined = pc.binary_join_element_wise(*columns, _SEP)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def joined(left: pa.Table, right: pa.Table, key: Sequence[str] | str) -> pa.Table:
    """The inner join of `left` with `right` on `key`, whose values are unique in `right`
    and never null (a null would match an empty string, `composite_key`): `left`'s rows
    that have a match, in their order, with `right`'s other columns.

    A hash look-up of `left`'s keys in `right`'s and one take per column: Arrow's join
    engine took three to ten times as long for the day's tables (tens of thousands of
    rows), and it does not keep the rows' order."""
    keys = [key] if isinstance(key, str) else list(key)
    at = pc.index_in(composite_key(left, keys), value_set=composite_key(right, keys))
    if at.null_count:
        found = pc.is_valid(at)
        left, at = left.filter(found), at.filter(found)
    for name in right.column_names:
        if name not in keys:
            left = left.append_column(right.field(name), right.column(name).take(at))
    return left


def rows_with_keys(
    table: pa.Table, key: Sequence[str], wanted: pa.Table, index: KeyIndex | None = None
) -> pa.Array:
    """Mask over `table`: the rows whose key is one of `wanted`'s (a table with the key's
    columns).

    With the `index` of `table`'s key (`transform.key_index`), the indexed rows are found
    by searching the wanted keys' hashes, and only the rows past the index are probed:
    a day's look-up then costs the day's keys, not the province. Without one, the rows are
    probed by the key's last column alone (a hash look-up, no new strings), and the whole
    key is compared on those candidates only."""
    n = table.num_rows
    if n == 0 or wanted.num_rows == 0:
        return pa.array(np.zeros(n, dtype=bool))
    if index is None:
        return pa.array(_probed(table, key, wanted))
    rows = index.candidates(key_hashes(wanted, key))
    found = pc.is_in(
        composite_key(take_rows(table.select(list(key)), rows), key),
        value_set=composite_key(wanted, key),
    )
    mask = mask_of(n, rows[found.to_numpy(zero_copy_only=False)])
    if n > index.covered:
        mask[index.covered :] = _probed(table.slice(index.covered), key, wanted)
    return pa.array(mask)


def _probed(table: pa.Table, key: Sequence[str], wanted: pa.Table) -> npt.NDArray[np.bool_]:
    """`rows_with_keys` by probing `table`'s last key column (one pass over it)."""
    n = table.num_rows
    last = table.column(key[-1])
    values = pc.unique(wanted.column(key[-1]).cast(last.type).combine_chunks())
    candidate = pc.is_in(last, value_set=values)
    if isinstance(candidate, pa.ChunkedArray):
        candidate = candidate.combine_chunks()
    at = pc.indices_nonzero(candidate)
    # Filtered, not taken: a take from a column of many chunks (a memory-mapped snapshot)
    # concatenates the whole column first; a filter goes chunk by chunk.
    found = pc.is_in(
        composite_key(table.select(list(key)).filter(candidate), key),
        value_set=composite_key(wanted, key),
    )
    mask = np.zeros(n, dtype=bool)
    mask[pc.filter(at, found).to_numpy()] = True
    return mask


def selected(table: pa.Table, mask: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`table.filter(mask)` for a sparse mask over a memory-mapped state: only the
    batches holding a chosen row are read (`transform.key_index.take_rows`)."""
    chosen = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
    rows = np.flatnonzero(chosen.to_numpy(zero_copy_only=False))
    return take_rows(table, rows)


def known_keys(state_key: pa.Array, change_key: pa.Array) -> pa.Array:
    """Mask over `change_key`: the keys present in `state_key`.

    The hash table is built over the (small) change list, never over the (large) state,
    so a day's look-up costs one pass over the state whatever its size.
    """
    present = pc.filter(state_key, pc.is_in(state_key, value_set=change_key))
    return pc.is_in(change_key, value_set=present)


def ignored_deletes(state: pa.Table, changes: pa.Table, key: Sequence[str]) -> pa.Array:
    """Mask of the change rows that are a `D` for a key the state does not know."""
    if changes.num_rows == 0:
        return pa.array([], pa.bool_())
    known = known_keys(composite_key(state, key), composite_key(changes, key))
    return pc.and_(pc.equal(changes.column(ACTION), DELETE), pc.invert(known))


def apply_changes(
    state: pa.Table,
    changes: pa.Table,
    key: Sequence[str],
    removes: pa.Array | bool,
    live: pa.Array | None = None,
    index: KeyIndex | None = None,
) -> Applied:
    """Yesterday's `state` with `changes` applied (see the module docstring).

    `changes` holds the state's columns plus `action`; `removes` (aligned with `changes`,
    or one value for all) says which `D` rows remove their record rather than replace it.
    A `removes` value on an `A`/`U` row has no effect. The state is probed by key
    (`rows_with_keys`), never keyed whole. `live` (a mask
    over `state`, None for all) says which rows are the state: the others are older
    versions a state read from layers keeps in place rather than copying the rest
    (`crm_pipeline.state.live_table`); they are never kept, known or replaced.
    """
    if changes.num_rows == 0:
        return Applied(
            old=state,
            kept=pa.array(np.ones(state.num_rows, dtype=bool)) if live is None else live,
            written=state.schema.empty_table(),
            applied=changes,
            replaced=state.schema.empty_table(),
            ignored=changes.schema.empty_table(),
            live=live,
        )
    change_key = composite_key(changes, key)
    # The rows of the changes' keys (the replaced ones: an ignored `D`'s key is in no live
    # row), then which change keys the state knows.
    hit = rows_with_keys(state, key, changes, index)
    if live is not None:
        hit = pc.and_(hit, live)
    replaced = selected(state, hit)
    known = pc.is_in(change_key, value_set=composite_key(replaced, key))
    ignored = pc.and_(pc.equal(changes.column(ACTION), DELETE), pc.invert(known))
    effective = changes.filter(pc.invert(ignored))
    effective_removes = (
        removes if isinstance(removes, bool) else pc.filter(removes, pc.invert(ignored))
    )
    is_delete = pc.equal(effective.column(ACTION), DELETE)
    removing = (
        pc.and_(is_delete, pa.scalar(effective_removes))
        if isinstance(effective_removes, bool)
        else pc.and_(is_delete, effective_removes)
    )
    written = effective.filter(pc.invert(removing)).select(state.column_names)
    return Applied(
        old=state,
        kept=pc.invert(hit) if live is None else pc.and_(pc.invert(hit), live),
        written=written.cast(state.schema),
        applied=effective,
        replaced=replaced,
        ignored=changes.filter(ignored),
        live=live,
    )
