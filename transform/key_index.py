"""Sorted stable hashes of a table's keys with their row numbers: the day's keys searched
in the province, instead of the province's columns probed for the day's keys (pure).

A daily run asks the previous state a few questions: the rows of these customer keys, of
these account keys, the accounts of these owners, the records of these identification
numbers. Probing the province's columns (`pc.is_in` over millions of strings, the first
touch of a memory-mapped snapshot's pages) costs the province's size on every question,
whatever the day's change (issue 21). A full snapshot is written with one `KeyIndex` per
question (crm_pipeline.state_index): each row's stable hash (`transform.hashing`), sorted,
beside its row number. A question is then a binary search of the day's hashes; the rows
found are only candidates (two values may share a hash), and the caller compares their
real values, so answers stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from transform.hashing import rows_within, stable_hash
from transform.identity import CREDIT_CODE, org_code_in_credit_code

_MIX = np.uint64(0x100000001B3)


@dataclass(frozen=True)
class KeyIndex:
    """Entries (hash, row) sorted by hash, over rows [0, covered) of the indexed table.

    A table it serves must begin with those rows, in that order (a state read from layers
    is the full snapshot followed by the layers' rows, `crm_pipeline.state.live_table`);
    the rows past `covered` are not indexed and are searched by the caller.
    """

    hashes: npt.NDArray[np.uint64]
    rows: npt.NDArray[np.uint32]
    covered: int

    def candidates(self, wanted: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Rows (ascending, each once) holding one of the `wanted` hashes: every row whose
        value hashes there, and rarely another value sharing the hash."""
        if len(wanted) == 0 or len(self.hashes) == 0:
            return np.zeros(0, np.int64)
        wanted = np.unique(wanted)
        lo = np.searchsorted(self.hashes, wanted, "left")
        hi = np.searchsorted(self.hashes, wanted, "right")
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        at = starts + np.arange(total, dtype=np.int64)
        return np.unique(self.rows[at].astype(np.int64))


def build_index(
    hashes: npt.NDArray[np.uint64], rows: npt.NDArray[np.int64], covered: int
) -> KeyIndex:
    """The index of `hashes[i]` at row `rows[i]` (any order) over `covered` rows."""
    order = np.argsort(hashes, kind="stable")
    return KeyIndex(hashes[order], rows[order].astype(np.uint32), covered)


def key_hashes(table: pa.Table | pa.RecordBatch, key: Sequence[str]) -> npt.NDArray[np.uint64]:
    """One stable hash per row of the key columns together (nulls hash as "")."""
    hashed = stable_hash(table.column(key[0]))
    for name in key[1:]:
        hashed = hashed * _MIX ^ stable_hash(table.column(name))
    return hashed


def number_entries(
    records: pa.Table | pa.RecordBatch,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """(hash, row) of each number a SOURCE_CUSTOMER record may be found by: its own
    `id_no`, and for a credit code the organization code it embeds (what merges it with an
    organization-code record, `transform.partition.identity_keys`); no entry for an empty
    number."""
    id_no = records.column("id_no").fill_null("")
    rows = np.arange(records.num_rows, dtype=np.int64)
    own = pc.not_equal(id_no, "").to_numpy(zero_copy_only=False)
    credit = pc.fill_null(pc.equal(records.column("id_type"), CREDIT_CODE), False)
    credit_rows = rows[credit.to_numpy(zero_copy_only=False)]
    embedded = org_code_in_credit_code(id_no.filter(credit))
    hashes = np.concatenate([stable_hash(id_no)[own], stable_hash(embedded)])
    return hashes, np.concatenate([rows[own], credit_rows])


def number_hashes(numbers: pa.Array) -> npt.NDArray[np.uint64]:
    """The hashes to search a number index (`number_entries`) for these numbers."""
    return stable_hash(numbers)


def take_rows(table: pa.Table, rows: npt.NDArray[np.int64]) -> pa.Table:
    """The rows at `rows` (ascending) of `table`, taken batch by batch: a `take` from a
    memory-mapped table of many batches would concatenate each column first, and a
    filter would visit every batch; only the batches holding a row are read here."""
    picked = []
    offset = 0
    for batch in table.to_batches():
        here = rows_within(rows, offset, batch.num_rows)
        if len(here):
            picked.append(batch.take(pa.array(here)))
        offset += batch.num_rows
    return pa.Table.from_batches(picked, schema=table.schema)


def mask_of(n: int, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask
