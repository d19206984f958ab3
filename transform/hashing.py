"""Stable 64-bit hashes of strings, and the rows whose values may repeat.

Finding repeated keys among tens of millions of strings with a hash table over the strings
(Arrow's dictionary encoding, group-by) costs a copy of every distinct string and a table
of twice as many slots: gigabytes at bank scale. Eight bytes of hash per row, sorted, say
which rows can repeat; only those are then compared as strings, so answers stay exact.
The strings need not even be held: a column read batch by batch is hashed, then read again
only for the rows that share a hash (`first_appearance_streamed`, `repeated_rows_streamed`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def stable_hash(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint64]:
    """FNV-1a (64 bits) of each string's UTF-8 bytes, and of its length.

    Stable across processes, runs and versions (unlike Python's `hash`), which is what a
    restart needs: the same record must fall in the same bucket every time. Vectorized by
    byte position, so the cost is (longest string) passes over the array, no per-row Python.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.string():
        values = values.cast(pa.string())
    values = values.fill_null("")
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[values.offset : values.offset + n + 1]
    starts = offsets[:-1].astype(np.int64)
    lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    hashed = np.full(n, _FNV_OFFSET, dtype=np.uint64) ^ lengths.astype(np.uint64)
    hashed *= _FNV_PRIME
    longest = int(lengths.max()) if n else 0
    if n and int(lengths.min()) == longest:  # one length (account, ID numbers): no gather
        first = int(offsets[0])
        square = data[first : first + n * longest].reshape(n, longest)
        for position in range(longest):
            hashed = (hashed ^ square[:, position].astype(np.uint64)) * _FNV_PRIME
        return hashed
    last = max(len(data) - 1, 0)
    for position in range(longest):
        byte = data[np.minimum(starts + position, last)].astype(np.uint64)
        mixed = (hashed ^ byte) * _FNV_PRIME
        hashed = np.where(lengths > position, mixed, hashed)  # past its end, a string is done
    return hashed


SLICE_ROWS = 1 << 20  # hashes looked up at a time in `shared_rows`


def shared_rows(hashed: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Rows (ascending) whose hash is shared with another row: every repeated value's rows,
    and in theory rows of distinct values that collide.

    Memory: a sorted copy of the hashes, then lookups a slice at a time (an argsort of the
    whole would add eight bytes a row, and its gather eight more).
    """
    empty = np.zeros(0, np.int64)
    if len(hashed) < 2:
        return empty
    ordered = np.sort(hashed)
    tail = ordered[1:]
    shared = np.unique(tail[tail == ordered[:-1]])
    del ordered, tail
    if len(shared) == 0:
        return empty
    found = []
    for start in range(0, len(hashed), SLICE_ROWS):
        part = hashed[start : start + SLICE_ROWS]
        at = np.minimum(np.searchsorted(shared, part), len(shared) - 1)
        found.append(np.flatnonzero(shared[at] == part) + start)
    return np.concatenate(found).astype(np.int64)


def hashes_of(batches: Iterable[pa.Array | pa.ChunkedArray]) -> npt.NDArray[np.uint64]:
    """The stable hashes of a column read batch by batch (only the hashes are kept)."""
    return np.concatenate([stable_hash(b) for b in batches] or [np.zeros(0, np.uint64)])


def rows_within(rows: npt.NDArray[np.int64], offset: int, n: int) -> npt.NDArray[np.int64]:
    """Those of `rows` (ascending) in the batch of `n` rows at `offset`, numbered in it:
    a take from a concatenation of batches is one take per batch holding a row."""
    lo, hi = np.searchsorted(rows, [offset, offset + n])
    return rows[lo:hi] - offset


def taken(batches: Iterable[pa.Array | pa.ChunkedArray], rows: npt.NDArray[np.int64]) -> pa.Array:
    """The values at `rows` (ascending) of the concatenation of `batches`, read once."""
    picked: list[pa.Array] = []
    kind = pa.string()
    offset = 0
    for batch in batches:
        n = len(batch)
        kind = batch.type
        here_rows = rows_within(rows, offset, n)
        if len(here_rows):
            here = batch.take(pa.array(here_rows))
            picked.append(here.combine_chunks() if isinstance(here, pa.ChunkedArray) else here)
        offset += n
    return pa.concat_arrays(picked) if picked else pa.array([], kind)


def _codes(values: pa.Array) -> npt.NDArray[np.int32]:
    """Dictionary codes, numbering distinct values in order of first appearance (a null is
    the value "")."""
    values = values.fill_null("") if values.null_count else values
    return pc.dictionary_encode(values.cast(pa.string())).indices.to_numpy(zero_copy_only=False)


def _first_among(n: int, rows: npt.NDArray[np.int64], values: pa.Array) -> npt.NDArray[np.bool_]:
    """`first_appearance` of n rows, given the rows whose hash is shared and their values:
    among them a value is new exactly when its code exceeds every code before it."""
    first = np.ones(n, bool)
    if len(rows):
        codes = _codes(values)
        new = np.ones(len(codes), bool)
        new[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
        first[rows] = new
    return first


def _repeated_among(rows: npt.NDArray[np.int64], values: pa.Array) -> npt.NDArray[np.int64]:
    if not len(rows):
        return rows
    codes = _codes(values)
    return rows[np.bincount(codes)[codes] > 1]


Batches = Callable[[], Iterable[pa.Array | pa.ChunkedArray]]


def first_appearance_streamed(read: Batches) -> npt.NDArray[np.bool_]:
    """Mask of the values seen for the first time, in order, over a column that `read()`
    yields batch by batch (called twice: hashes, then the values of the rows that share
    one). Memory: about sixteen bytes a row, whatever the strings."""
    hashed = hashes_of(read())
    n = len(hashed)
    rows = shared_rows(hashed)
    del hashed
    return _first_among(n, rows, taken(read(), rows))


def repeated_rows_streamed(hashed: npt.NDArray[np.uint64], read: Batches) -> npt.NDArray[np.int64]:
    """Rows (ascending) whose value occurs more than once, given the column's hashes and a
    way to read its values again batch by batch (only the rows sharing a hash are kept)."""
    rows = shared_rows(hashed)
    return _repeated_among(rows, taken(read(), rows))


def _chunks(values: pa.Array | pa.ChunkedArray) -> Batches:
    column = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    return lambda: column.chunks


def first_appearance(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Mask of the values seen for the first time, in order (a null is the value "")."""
    return first_appearance_streamed(_chunks(values))
