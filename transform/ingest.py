"""One landed data file -> its typed records staged as Parquet, its rejects, its counts.

Chunks are parsed and typed one at a time and appended to the Parquet file, so memory is
bounded by the chunk, not the file. The file-wide rules that need every line are applied
at the end: the control sum against the `.ok` flag, and duplicate keys (every record of a
key that appears more than once in the file is set aside, since nobody can tell which copy
is right), which rewrites the staged file only when the file has duplicates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_pipeline.config import Layout, LayoutConfig
from crm_pipeline.errors import FileRejected
from extract.flag import Flag
from transform.fields import TypedChunk, type_chunk
from transform.hashing import repeated_rows
from transform.parse import CHUNK_BYTES, RawChunk, iter_line_blocks, iter_raw_chunks
from transform.schema import REJECT

RAW_BLOCK_BYTES = 16 * 1024 * 1024  # read size when looking up raw lines
REWRITE_ROWS = 256 * 1024  # rows at a time when a staged file is rewritten
# Staged files are intermediates read once or twice on the same machine: uncompressed
# Parquet writes two to three times faster than snappy and reads faster too.
STAGED_PARQUET = {"compression": "none"}


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
    key_tables: list[pa.Table] = []
    read = 0
    control_sum = Decimal("0.00")
    writer: pq.ParquetWriter | None = None
    try:
        for raw in iter_raw_chunks(path, layout, chunk_bytes):
            read += raw.read
            reject_rows += [(r.line, r.raw, r.reason, None) for r in raw.rejects]
            typed: TypedChunk = type_chunk(raw, layout, codes)
            control_sum += typed.control_sum
            reject_rows += [(r.line, r.raw, r.reason, r.field) for r in typed.rejects]
            key_tables.append(typed.keys)
            if writer is None:
                writer = pq.ParquetWriter(partial, typed.table.schema, **STAGED_PARQUET)
            writer.write_table(typed.table)
    finally:
        if writer is not None:
            writer.close()
    if read != flag.records:
        raise FileRejected(name, f"{read} records, flag says {flag.records}")
    if control_sum != flag.control_sum:
        raise FileRejected(name, f"control sum {control_sum}, flag says {flag.control_sum}")
    if writer is None:  # empty file: an empty staged table with the typed schema
        _write_empty(partial, layout, codes)
    duplicates = _duplicate_lines(key_tables, layout.key)
    table_rows = pq.read_metadata(partial).num_rows
    if len(duplicates):
        dup_rows, table_rows = _drop_lines(partial, duplicates, ["line", *layout.key])
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


def _drop_lines(staged: Path, lines: pa.Array, columns: list[str]) -> tuple[pa.Table, int]:
    """Rewrite a staged file without the rows of `lines`, slice by slice (a large file is
    never read whole); the dropped rows' `columns`, and the number of rows kept."""
    rewritten = staged.with_suffix(".rewrite")
    source = pq.ParquetFile(staged)
    dropped: list[pa.Table] = []
    kept = 0
    with pq.ParquetWriter(rewritten, source.schema_arrow, **STAGED_PARQUET) as writer:
        for batch in source.iter_batches(batch_size=REWRITE_ROWS):
            table = pa.Table.from_batches([batch], source.schema_arrow)
            drop = pc.is_in(table.column("line"), value_set=lines)
            dropped.append(table.filter(drop).select(columns))
            table = table.filter(pc.invert(drop))
            writer.write_table(table)
            kept += table.num_rows
    rewritten.replace(staged)
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


def _duplicate_lines(key_tables: list[pa.Table], key: list[str]) -> pa.Array:
    """Line numbers of every sound row whose key appears more than once in the file."""
    if not key_tables:
        return pa.array([], pa.int64())
    keys = pa.concat_tables(key_tables)
    if len(key) == 1:  # every layout's key: from hashes, no hash table over the file's keys
        rows = repeated_rows(keys.column(key[0]))
        return keys.column("line").take(pa.array(rows)).combine_chunks()
    counts = keys.group_by(key).aggregate([("line", "count")])
    dup = counts.filter(pc.greater(counts.column("line_count"), 1))
    if dup.num_rows == 0:
        return pa.array([], pa.int64())
    joined = keys.join(dup.select(key), keys=key, join_type="inner")
    return joined.column("line").combine_chunks()


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
