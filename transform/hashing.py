"""Stable 64-bit hashes of strings, and the rows whose values may repeat.

Finding repeated keys among tens of millions of strings with a hash table over the strings
(Arrow's dictionary encoding, group-by) costs a copy of every distinct string and a table
of twice as many slots: gigabytes at bank scale. Eight bytes of hash per row, sorted, say
which rows can repeat; only those are then compared as strings, so answers stay exact.
"""

from __future__ import annotations

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
    last = max(len(data) - 1, 0)
    for position in range(longest):
        byte = data[np.minimum(starts + position, last)].astype(np.uint64)
        mixed = (hashed ^ byte) * _FNV_PRIME
        hashed = np.where(lengths > position, mixed, hashed)  # past its end, a string is done
    return hashed


def shared_hash_rows(values: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Rows (ascending) whose value's hash is shared with another row: every repeated
    value's rows, and in theory rows of distinct values that collide."""
    hashed = np.concatenate([stable_hash(c) for c in values.chunks] or [np.zeros(0, np.uint64)])
    if len(hashed) < 2:
        return np.zeros(0, np.int64)
    order = np.argsort(hashed, kind="stable")
    ordered = hashed[order]
    del hashed
    same = ordered[1:] == ordered[:-1]
    del ordered
    shared = np.zeros(len(order), bool)
    shared[1:] |= same
    shared[:-1] |= same
    return np.sort(order[shared]).astype(np.int64)


def _candidates(values: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], npt.NDArray]:
    """The rows whose hash is shared and, for them, dictionary codes of their strings in
    order of first appearance (a null is the value ""): the exact comparison, done only
    where it can matter."""
    if values.null_count:
        values = values.fill_null("")
    column = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    column = column.cast(pa.string())
    rows = shared_hash_rows(column)
    if len(rows) == 0:
        return rows, np.zeros(0, np.int32)
    repeated = column.take(pa.array(rows)).combine_chunks()
    return rows, pc.dictionary_encode(repeated).indices.to_numpy(zero_copy_only=False)


def first_appearance(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Mask of the values seen for the first time, in order (a null is the value "").

    Dictionary codes number distinct values in order of first appearance, so among the
    candidates a value is new exactly when its code exceeds every code before it.
    """
    first = np.ones(len(values), bool)
    rows, codes = _candidates(values)
    if len(rows):
        new = np.ones(len(codes), bool)
        new[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
        first[rows] = new
    return first


def repeated_rows(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Rows (ascending) whose value occurs more than once (a null is the value "")."""
    rows, codes = _candidates(values)
    return rows[np.bincount(codes)[codes] > 1] if len(rows) else rows
