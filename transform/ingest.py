"""One landed data file -> its typed records staged as Parquet, its rejects, its counts.

Chunks are parsed and typed one at a time and appended to a file, so memory is
bounded by the chunk, not the file. The file-wide rules that need every line are applied
at the end: the control sum against the `.ok` flag, and duplicate keys (every record of a
key that appears more than once in the file is set aside, since nobody can tell which copy
is right). The typed chunks wait in an Arrow file until then, so the staged Parquet file is
written once, without the duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.config import Layout, LayoutConfig
from common.errors import FileRejected
from common.intermediate import STAGED_PARQUET
from common.schema import REJECT
from extract.flag import Flag
from transform.fields import TypedChunk, type_chunk
from transform.hashing import hashes_of, repeated_rows_streamed, taken
from transform.parse import CHUNK_BYTES, RawChunk, iter_line_blocks, iter_raw_chunks

RAW_BLOCK_BYTES = 16 * 1024 * 1024  # read size when looking up raw lines


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


def _reject_table(rows: list[tuple[int, str, str, str | None]], file: str, branch: str) -> pa.Table:
    return pa.table(
        {
            "file": pa.array([file] * len(rows), pa.string()),
            "line": pa.array([r[0] for r in rows], pa.int64()),
            "raw": pa.array([r[1] for r in rows], pa.string()),
            "reason": pa.array([r[2] for r in rows], pa.string()),
            "field": pa.array([r[3] for r in rows], pa.string()),
            "branch": pa.array([branch] * len(rows), pa.string()),
        },
        schema=REJECT,
    )


def ingest_file(
    path: Path,
    layout: Layout,
    codes: LayoutConfig,
    flag: Flag,
    staged: Path,
    branch: str,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestedFile:
    """Parse, type and stage one file; raise FileRejected when it disagrees with its flag."""
    name = path.name
    staged.parent.mkdir(parents=True, exist_ok=True)
    # Private to this process: two runs staging the same shared file (the FX rates) race safely.
    partial = staged.with_suffix(f".{os.getpid()}.partial")
    reject_rows: list[tuple[int, str, str, str | None]] = []
    keys = KeyLog(partial.with_suffix(".keys"), layout.key)
    # The typed chunks go to an Arrow file first and to Parquet once the duplicate keys are
    # known: the staged file is written once, without the duplicates, instead of written
    # and then rewritten (decoded and encoded again) whenever a file has any.
    chunks = partial.with_suffix(".chunks")
    read = 0
    control_sum = Decimal("0.00")
    writer: pa.ipc.RecordBatchStreamWriter | None = None
    try:
        try:
            for raw in iter_raw_chunks(path, layout, chunk_bytes):
                read += raw.read
                reject_rows += [(r.line, r.raw, r.reason, None) for r in raw.rejects]
                typed: TypedChunk = type_chunk(raw, layout, codes)
                control_sum += typed.control_sum
                reject_rows += [(r.line, r.raw, r.reason, r.field) for r in typed.rejects]
                keys.add(typed.keys)
                if writer is None:
                    writer = pa.ipc.new_stream(chunks, typed.table.schema)
                writer.write_table(typed.table)
                del raw, typed
        finally:
            keys.close()
            if writer is not None:
                writer.close()
        try:
            if read != flag.records:
                raise FileRejected(name, f"{read} records, flag says {flag.records}")
            if control_sum != flag.control_sum:
                raise FileRejected(name, f"control sum {control_sum}, flag says {flag.control_sum}")
            duplicates = keys.repeated_lines()
        finally:
            keys.discard()
        pa.default_memory_pool().release_unused()  # the chunks' memory, before the write
        if writer is None:  # empty file: an empty staged table with the typed schema
            _write_empty(partial, layout, codes)
            dup_rows, table_rows = pa.table({k: [] for k in ["line", *layout.key]}), 0
        else:
            dup_rows, table_rows = _write_staged(chunks, partial, duplicates, ["line", *layout.key])
    finally:
        chunks.unlink(missing_ok=True)
    if dup_rows.num_rows:
        dup_lines = dup_rows.column("line").to_pylist()
        raws = raw_lines(path, set(dup_lines), layout)
        key_values = zip(*(dup_rows.column(k).to_pylist() for k in layout.key), strict=True)
        for line, values in zip(dup_lines, key_values, strict=True):
            key_text = ",".join(f"{k}={v!r}" for k, v in zip(layout.key, values, strict=True))
            reject_rows.append((line, raws[line], f"duplicate key: {key_text}", layout.key[0]))
    partial.replace(staged)
    rejects = _reject_table(sorted(reject_rows), name, branch)
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
    empty = RawChunk(
        {f.name: pa.array([], pa.string()) for f in layout.fields},
        np.empty(0, np.int64),
        pa.array([], pa.string()),
        np.zeros(0, bool),
        [],
        0,
    )
    pq.write_table(type_chunk(empty, layout, codes).table, partial)


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


def raw_lines(path: Path, lines: set[int], layout: Layout) -> dict[int, str]:
    """The raw text of a few lines, in one pass over the file in large blocks: newlines
    are located with numpy, so the lines in between cost no Python (only rejects need it).
    """
    found: dict[int, str] = {}
    if not lines:
        return found
    wanted = np.array(sorted(lines), dtype=np.int64)
    last = int(wanted[-1])
    for block, first_line in iter_line_blocks(path, RAW_BLOCK_BYTES):
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == 0x0A)
        if len(arr) and arr[-1] != 0x0A:
            ends = np.append(ends, len(arr))  # the last line, without a terminator
        count = len(ends)
        here = wanted[(wanted >= first_line) & (wanted < first_line + count)]
        for number in here.tolist():
            i = number - first_line
            start = int(ends[i - 1]) + 1 if i else 0
            content = block[start : int(ends[i])].rstrip(b"\r\n")
            found[number] = content.decode(layout.encoding, errors="backslashreplace")
        if first_line + count > last:
            break
    return found
