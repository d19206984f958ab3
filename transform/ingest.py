"""One landed data file's raw chunks -> its typed records staged as Parquet, its rejects,
its counts.

The caller composes the step (Spring Batch's reader / processor / writer): it reads the
file with `extract.records.iter_raw_chunks`, passes the raw-line lookup
(`extract.lines.raw_lines`) and the check of the file against its flag
(`extract.flag.read_checker`); this module only types, applies the file's rules and stages.

Chunks are typed one at a time and appended to a file, so memory is bounded by the chunk,
not the file. The file-wide rules that need every line are applied at the end: the check
of records and control sum (before anything is staged), and duplicate keys (every record
of a key that appears more than once in the file is set aside, since nobody can tell which
copy is right). The typed chunks wait in an Arrow file until then, so the staged Parquet
file is written once, without the duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.config import Layout, LayoutConfig
from common.intermediate import STAGED_PARQUET
from common.records import RawChunk, RawLines
from common.rejects import reject_rows
from transform.fields import TypedChunk, type_chunk
from transform.hashing import hashes_of, repeated_rows_streamed, taken

# Called with the records read and the control sum of a whole file, before it is staged:
# raises (FileRejected) when they disagree with the file's flag.
ReadCheck = Callable[[int, Decimal], None]


def _no_check(records: int, control_sum: Decimal) -> None:
    """For a caller that has nothing to hold the file against."""


@dataclass(frozen=True)
class IngestedFile:
    """What one data file gave. read = kept + set_aside (filtering happens later)."""

    name: str
    staged: Path  # Parquet of the kept, typed records (+ `line`)
    rejects: pa.Table  # REJECT
    read: int
    kept: int
    set_aside: int
    control_sum: Decimal


def ingest_file(
    chunks: Iterable[RawChunk],
    path: Path,
    layout: Layout,
    codes: LayoutConfig,
    staged: Path,
    branch: str,
    raw_lines: RawLines,
    check: ReadCheck = _no_check,
) -> IngestedFile:
    """Type and stage the raw `chunks` of the landed file `path` (in order, as its reader
    yields them); `check` (the flag check) may reject the file once it is read, before
    anything is staged. `raw_lines` quotes the lines of duplicate keys as sent."""
    name = path.name
    staged.parent.mkdir(parents=True, exist_ok=True)
    # Private to this process: two runs staging the same shared file (the FX rates) race safely.
    partial = staged.with_suffix(f".{os.getpid()}.partial")
    found: list[tuple[int, str, str, str | None]] = []  # set aside: line, raw, why, field
    keys = KeyLog(partial.with_suffix(".keys"), layout.key)
    # The typed chunks go to an Arrow file first and to Parquet once the duplicate keys are
    # known: the staged file is written once, without the duplicates, instead of written
    # and then rewritten (decoded and encoded again) whenever a file has any.
    typed_file = partial.with_suffix(".chunks")
    read = 0
    control_sum = Decimal("0.00")
    writer: pa.ipc.RecordBatchStreamWriter | None = None
    try:
        try:
            for raw in chunks:
                read += raw.read
                found += [(r.line, r.raw, r.reason, None) for r in raw.rejects]
                typed: TypedChunk = type_chunk(raw, layout, codes)
                control_sum += typed.control_sum
                found += [(r.line, r.raw, r.reason, r.field) for r in typed.rejects]
                keys.add(typed.keys)
                if writer is None:
                    writer = pa.ipc.new_stream(typed_file, typed.table.schema)
                writer.write_table(typed.table)
                del raw, typed
        finally:
            keys.close()
            if writer is not None:
                writer.close()
        try:
            check(read, control_sum)
            duplicates = keys.repeated_lines()
        finally:
            keys.discard()
        pa.default_memory_pool().release_unused()  # the chunks' memory, before the write
        if writer is None:  # empty file: an empty staged table with the typed schema
            _write_empty(partial, layout, codes)
            dup_rows, table_rows = pa.table({k: [] for k in ["line", *layout.key]}), 0
        else:
            dup_rows, table_rows = _write_staged(
                typed_file, partial, duplicates, ["line", *layout.key]
            )
    finally:
        typed_file.unlink(missing_ok=True)
    if dup_rows.num_rows:
        dup_lines = dup_rows.column("line").to_pylist()
        raws = raw_lines(path, set(dup_lines), layout)
        key_values = zip(*(dup_rows.column(k).to_pylist() for k in layout.key), strict=True)
        for line, values in zip(dup_lines, key_values, strict=True):
            key_text = ",".join(f"{k}={v!r}" for k, v in zip(layout.key, values, strict=True))
            found.append((line, raws[line], f"duplicate key: {key_text}", layout.key[0]))
    partial.replace(staged)
    found.sort()
    rejects = reject_rows(
        [r[0] for r in found],
        [r[2] for r in found],
        file=name,
        branch=branch,
        raw=[r[1] for r in found],
        field=[r[3] for r in found],
    )
    if table_rows + rejects.num_rows != read:
        raise AssertionError(
            f"{name}: reconciliation broken: {read} read, {table_rows} kept, "
            f"{rejects.num_rows} set aside"
        )
    return IngestedFile(name, staged, rejects, read, table_rows, rejects.num_rows, control_sum)


def staged_batches(
    path: Path, rows: int, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """A staged file's rows, `rows` at a time, in order.

    Without pyarrow's pre-buffering (its default): iterating a whole file with it on reads
    every row group's bytes ahead, so memory grew with the file (a 5-million-row customer
    file rewritten: 1.1 GiB against 0.5 GiB without, and no slower).
    """
    return pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=rows, columns=columns)


def _write_staged(
    chunks: Path, staged: Path, lines: pa.Array, columns: list[str]
) -> tuple[pa.Table, int]:
    """The staged Parquet file from the typed chunks' Arrow file, without the rows of
    `lines` (a chunk at a time, read, not memory-mapped: a mapped file's pages would count
    in the worker's memory); the dropped rows' `columns`, and the number of rows kept."""
    dropped: list[pa.Table] = []
    kept = 0
    with pa.OSFile(str(chunks), "rb") as source, pa.ipc.open_stream(source) as reader:
        schema = reader.schema
        with pq.ParquetWriter(staged, schema, **STAGED_PARQUET) as writer:
            for batch in reader:
                table = pa.Table.from_batches([batch], schema)
                if len(lines):
                    drop = pc.is_in(table.column("line"), value_set=lines)
                    if pc.any(drop).as_py():
                        dropped.append(table.filter(drop).select(columns))
                        table = table.filter(pc.invert(drop))
                writer.write_table(table)
                kept += table.num_rows
    if not dropped:
        return schema.empty_table().select(columns), kept
    return pa.concat_tables(dropped), kept


def _write_empty(partial: Path, layout: Layout, codes: LayoutConfig) -> None:
    pq.write_table(type_chunk(RawChunk.empty(layout), layout, codes).table, partial)


class KeyLog:
    """Every row's key, for the file's duplicate rule, without holding the keys in memory.

    A chunk's keys are hashed (eight bytes a row are kept) and appended to an Arrow file
    beside the staged file; at the end only the rows whose hash is shared are read back and
    compared as strings, so the answer is exact. Holding the keys themselves cost 30 to 40
    bytes a row, and the hash sort of all of them as much again: at 30 million accounts, the
    ingest workers were the largest processes of the run.
    """

    def __init__(self, path: Path, key: list[str]) -> None:
        self.path = path
        self.key = key
        self.hashes: list[np.ndarray] = []
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def add(self, keys: pa.Table) -> None:
        """`keys`: the key columns and `line` of a chunk's rows (sound or not)."""
        table = pa.table({"key": key_text(keys, self.key), "line": keys.column("line")})
        if self._writer is None:
            self._writer = pa.ipc.new_stream(self.path, table.schema)
        self._writer.write_table(table)
        self.hashes.append(hashes_of([table.column("key")]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _batches(self, column: str) -> Iterator[pa.Array]:
        if not self.path.exists():
            return
        with pa.ipc.open_stream(self.path) as reader:
            for batch in reader:
                yield batch.column(column)

    def repeated_lines(self) -> pa.Array:
        """Line numbers of every row whose key appears more than once in the file."""
        hashed = np.concatenate(self.hashes or [np.zeros(0, np.uint64)])
        self.hashes = []
        rows = repeated_rows_streamed(hashed, lambda: self._batches("key"))
        del hashed
        if not len(rows):
            return pa.array([], pa.int64())
        return taken(self._batches("line"), rows)

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def key_text(keys: pa.Table, key: list[str]) -> pa.Array:
    """One string per row that is equal exactly when the rows' keys are: the column itself
    for a one-column key, else each value preceded by its length (unambiguous)."""
    if len(key) == 1:
        column = keys.column(key[0])
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    parts: list[pa.Array] = []
    for name in key:
        values = keys.column(name).cast(pa.string()).fill_null("")
        parts += [pc.binary_length(values).cast(pa.string()), values]
    return pc.binary_join_element_wise(*parts, ":").combine_chunks()
