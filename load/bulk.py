"""Bulk-writing Arrow tables into a staging table, in committed and checkpointed chunks.

Each chunk is written and its checkpoint recorded in one transaction, so after a crash the
checkpoint says exactly which rows are in the table: a restart skips the committed chunks
and continues with the next. Before trusting a checkpoint the rows behind it are counted
(an UNLOGGED staging table is emptied by a PostgreSQL crash); if they are not all there,
the table is staged again from the start.

PostgreSQL gets `COPY ... FROM STDIN (FORMAT csv)` fed by Arrow's C++ CSV writer (no
per-row Python); SQLite gets one `executemany` per chunk over values converted column-wise.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, Table, delete, func, select

from load.control import batch_checkpoint, record_checkpoint

log = logging.getLogger(__name__)

# Called after each committed chunk with (stream, chunk number): progress reports, and the
# hook the crash tests use to stop a load between two chunks.
ChunkHook = Callable[[str, int], None]


@dataclass(frozen=True)
class Staged:
    """What staging one table did: rows now staged, chunks written now and skipped."""

    rows: int
    chunks_written: int
    chunks_skipped: int


def _position(rows: int) -> str:
    return f"rows={rows}"


def _rows_of(position: str) -> int:
    return int(position.removeprefix("rows="))


def stage(
    engine: Engine,
    target: Table,
    data: pa.Table,
    *,
    batch_id: int,
    chunk_rows: int,
    step_id: int | None = None,
    on_chunk: ChunkHook | None = None,
    stream: str | None = None,
) -> Staged:
    """Write `data` (columns named as `target`'s, without batch_id) into `target`.

    `stream` names the checkpoints and the `on_chunk` calls (default: the table's name).
    """
    stream = stream or target.name
    columns = [c.name for c in target.columns if c.name in data.column_names]
    data = data.select(columns)
    done, chunk = 0, 0
    with engine.connect() as conn:
        last = batch_checkpoint(conn, batch_id, stream)
        present = conn.execute(
            select(func.count()).select_from(target).where(target.c.batch_id == batch_id)
        ).scalar_one()
    if last is not None:
        done, chunk = _rows_of(last.position), last.chunk
    if present != done or done > data.num_rows:
        if present or done:
            log.warning(
                "batch %s: %s holds %s rows where checkpoint says %s; staging it again",
                batch_id,
                stream,
                present,
                done,
            )
        with engine.begin() as conn:
            conn.execute(delete(target).where(target.c.batch_id == batch_id))
        done, chunk = 0, 0
    skipped = chunk
    written = 0
    writer = _copy_chunk if engine.dialect.name == "postgresql" else _insert_chunk
    while done < data.num_rows:
        part = data.slice(done, chunk_rows)
        chunk += 1
        with engine.begin() as conn:
            writer(conn, target, ["batch_id", *columns], _with_batch(part, batch_id))
            record_checkpoint(
                conn,
                step_id=step_id,
                batch_id=batch_id,
                stream=stream,
                chunk=chunk,
                position=_position(done + part.num_rows),
            )
        done += part.num_rows
        written += 1
        if on_chunk is not None:
            on_chunk(stream, chunk)
    return Staged(rows=data.num_rows, chunks_written=written, chunks_skipped=skipped)


def _with_batch(part: pa.Table, batch_id: int) -> pa.Table:
    return part.add_column(0, "batch_id", pa.array([batch_id] * part.num_rows, pa.int64()))


class _CopySink(io.RawIOBase):
    """A write-only file that hands every block Arrow's CSV writer produces to COPY."""

    def __init__(self, copy: Any) -> None:
        super().__init__()
        self._copy = copy

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._copy.write(view)
        return view.nbytes


# Rows per block of CSV handed to COPY: the server parses one block while the next is
# encoded (two cores at work instead of one after the other).
COPY_BLOCK_ROWS = 16_384


def _copy_chunk(conn: Connection, target: Table, columns: list[str], part: pa.Table) -> None:
    names = ", ".join(f'"{name}"' for name in columns)
    raw: Any = conn.connection.driver_connection
    sql = f'COPY "{target.name}" ({names}) FROM STDIN (FORMAT csv)'
    options = pacsv.WriteOptions(include_header=False, batch_size=COPY_BLOCK_ROWS)
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        pacsv.write_csv(part, _CopySink(copy), options)


def sqlite_values(part: pa.Table) -> list[tuple[Any, ...]]:
    """Rows of Python values SQLite stores as our column types do (see load.types)."""
    columns = []
    for column in part.columns:
        kind = column.type
        if pa.types.is_decimal(kind) or pa.types.is_date(kind):
            column = pc.cast(column, pa.string())
        elif pa.types.is_boolean(kind):
            column = pc.cast(column, pa.int8())
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))


def _insert_chunk(conn: Connection, target: Table, columns: list[str], part: pa.Table) -> None:
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(
        f'INSERT INTO "{target.name}" ({names}) VALUES ({marks})',
        sqlite_values(part),
    )
