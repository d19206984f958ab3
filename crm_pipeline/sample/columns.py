"""Column types of a record table, and their rendering to byte matrices.

A record table is a plain ``dict`` of column name to column, all of one length. Building a
table (what the values are) is kept apart from writing it (how the bytes look), so the
initial-load generator and a later daily generator share the same builders.

Rendering turns a column into an ``(n, w)`` ``uint8`` matrix: the field's bytes in the
file's encoding, padded with NUL bytes (left-aligned for text, right-aligned for numbers).
NUL never occurs in real content, so the writers can turn padding into spaces (fixed width)
or drop it (delimited) with one vectorized operation, which is what makes ten million
records a minute possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

IntArray: TypeAlias = npt.NDArray[np.int64]
ByteMatrix: TypeAlias = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Num:
    """Whole numbers or exact decimals: ``values`` holds the value times ``10**scale``.

    Amounts are integers of fen (scale 2), NAV of 1/10000 (scale 4), so no binary float
    ever decides a digit written to a file.
    """

    values: IntArray
    scale: int = 0

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Dates:
    """Dates as integers ``YYYYMMDD``; 0 means unknown and is written as an empty field."""

    values: IntArray

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Categorical:
    """Text drawn from a small pool (names, addresses): encoded once per pool entry.

    The encoded pool is cached per encoding and shared by every slice of the column, so
    rendering chunk after chunk never encodes a name twice.
    """

    pool: npt.NDArray[np.str_]
    index: IntArray
    encoded: dict[str, ByteMatrix] = field(default_factory=dict, compare=False, repr=False)

    def pool_bytes(self, encoding: str) -> ByteMatrix:
        if encoding not in self.encoded:
            self.encoded[encoding] = _text(self.pool, encoding)
        return self.encoded[encoding]

    def __len__(self) -> int:
        return len(self.index)


# Text columns are numpy arrays: dtype 'S' (ASCII bytes) or 'U' (any text).
Column: TypeAlias = Num | Dates | Categorical | np.ndarray
Table: TypeAlias = dict[str, Column]
Index: TypeAlias = slice | npt.NDArray[np.integer] | npt.NDArray[np.bool_]

RIGHT_ALIGNED = (Num, Dates)


def table_len(table: Table) -> int:
    lengths = {len(col) for col in table.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def cell_text(table: Table, name: str, row: int) -> str:
    """One text cell as ``str`` (ASCII keys are stored as bytes): for reports and manifests."""
    value = np.asarray(table[name])[row]
    return value.decode() if isinstance(value, bytes) else str(value)


def take(col: Column, idx: Index) -> Column:
    """Rows ``idx`` (an index array, a boolean mask or a slice) of a column."""
    if isinstance(col, Num):
        return Num(col.values[idx], col.scale)
    if isinstance(col, Dates):
        return Dates(col.values[idx])
    if isinstance(col, Categorical):
        return Categorical(col.pool, col.index[idx], col.encoded)
    return col[idx]


def take_table(table: Table, idx: Index) -> Table:
    return {name: take(col, idx) for name, col in table.items()}


def concat(cols: list[Column]) -> Column:
    """Columns of one kind one after the other (mixed text becomes a 'U' array)."""
    nums = [c for c in cols if isinstance(c, Num)]
    if nums:
        return Num(np.concatenate([c.values for c in nums]), nums[0].scale)
    dates = [c for c in cols if isinstance(c, Dates)]
    if dates:
        return Dates(np.concatenate([c.values for c in dates]))
    cats = [c for c in cols if isinstance(c, Categorical)]
    if len(cats) == len(cols):
        offsets = np.cumsum([0, *(len(c.pool) for c in cats[:-1])])
        return Categorical(
            np.concatenate([c.pool for c in cats]),
            np.concatenate([c.index + o for c, o in zip(cats, offsets, strict=True)]),
        )
    arrays: list[np.ndarray] = [
        c.pool[c.index] if isinstance(c, Categorical) else c
        for c in cols
        if not isinstance(c, Num | Dates)
    ]
    if any(a.dtype.kind == "U" for a in arrays):
        arrays = [a.astype(str) for a in arrays]
    return np.concatenate(arrays)


def concat_tables(tables: list[Table]) -> Table:
    return {name: concat([t[name] for t in tables]) for name in tables[0]}


def _digits(values: IntArray, scale: int) -> ByteMatrix:
    """Signed decimals as a right-aligned NUL-padded byte matrix (``-12.30``, ``0.05``, ``7``)."""
    n = len(values)
    v = np.abs(values.astype(np.int64))
    neg = values < 0
    ip = v // (10**scale)
    top = int(ip.max()) if n else 0
    int_digits = max(1, len(str(top)))
    dot = 1 if scale else 0
    width = 1 + int_digits + dot + scale
    out = np.zeros((n, width), dtype=np.uint8)
    for j in range(scale):
        out[:, width - 1 - j] = 48 + (v // 10**j) % 10
    if scale:
        out[:, width - 1 - scale] = 46  # '.'
    first = width - 1 - scale - dot  # column of the units digit
    lead = np.full(n, first, dtype=np.int64)  # leftmost digit column per row
    for j in range(int_digits):
        present = (ip >= 10**j) if j else np.ones(n, dtype=bool)
        out[:, first - j] = np.where(present, 48 + (ip // 10**j) % 10, 0)
        lead = np.where(present, first - j, lead)
    rows = np.nonzero(neg)[0]
    out[rows, lead[rows] - 1] = 45  # '-'
    if not neg.any():
        out = out[:, 1:]
    return out


def _dates(values: IntArray) -> ByteMatrix:
    n = len(values)
    out = np.zeros((n, 8), dtype=np.uint8)
    for j in range(8):
        out[:, 7 - j] = 48 + (values // 10**j) % 10
    out[values == 0] = 0
    return out


def _bytes_matrix(arr: np.ndarray) -> ByteMatrix:
    """An 'S' array as its (n, itemsize) NUL-padded bytes."""
    arr = np.ascontiguousarray(arr)
    width = max(arr.dtype.itemsize, 1)
    if arr.dtype.itemsize == 0:
        return np.zeros((len(arr), 1), dtype=np.uint8)
    return arr.view(np.uint8).reshape(len(arr), width)


def _text(arr: np.ndarray, encoding: str) -> ByteMatrix:
    """Encode a 'U' array: ASCII rows by a cast, the few others one by one."""
    n = len(arr)
    if n == 0:
        return np.zeros((0, 1), dtype=np.uint8)
    arr = np.ascontiguousarray(arr.astype(str))
    width = max(arr.dtype.itemsize // 4, 1)
    codes = (
        arr.view(np.uint32).reshape(n, width) if arr.dtype.itemsize else np.zeros((n, 1), np.uint32)
    )
    wide = np.nonzero((codes >= 128).any(axis=1))[0]
    if len(wide) == 0:
        return codes.astype(np.uint8)
    encoded = [str(text).encode(encoding) for text in arr[wide]]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    out_width = max(width, int(lengths.max()))
    out = np.zeros((n, out_width), dtype=np.uint8)
    out[:, :width] = codes.astype(np.uint8)
    out[wide] = 0
    # Scatter all encoded rows at once: row and column of every byte of the joined buffer.
    starts = np.cumsum(lengths) - lengths
    rows = np.repeat(wide, lengths)
    cols = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    out[rows, cols] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return out


def render(col: Column, encoding: str) -> ByteMatrix:
    """A column as a NUL-padded byte matrix in ``encoding``."""
    if isinstance(col, Num):
        return _digits(col.values, col.scale)
    if isinstance(col, Dates):
        return _dates(col.values)
    if isinstance(col, Categorical):
        return col.pool_bytes(encoding)[col.index]
    if col.dtype.kind == "S":
        return _bytes_matrix(col)
    return _text(col, encoding)
