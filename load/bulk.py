"""Bulk-writing Arrow tables into a staging table, in committed and checkpointed chunks.

Each chunk is written and its checkpoint recorded in one transaction, so after a crash the
checkpoint says exactly which rows are in the table: a restart skips the committed chunks
and continues with the next. A stream may come in parts (a batch's tables on disk, see
common.batch.TableParts): chunks never span parts, and a checkpoint says how far into
which part the stream got. Before trusting a checkpoint the rows behind it are counted
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


@dataclass(frozen=True)
class Position:
    """Where a stream's staging got to: `rows` staged in all, the last of them in `part`,
    `at` rows into that part (the part's rows as handed to `Stager.put`)."""

    rows: int = 0
    part: int = 0
    at: int = 0

    def text(self) -> str:
        return f"rows={self.rows};part={self.part};at={self.at}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """`rows=N;part=i;at=k`, or `rows=N` (one part: checkpoints of earlier versions)."""
        fields = dict(item.split("=", 1) for item in text.split(";"))
        rows = int(fields["rows"])
        return cls(rows, int(fields.get("part", 0)), int(fields.get("at", rows)))


class Stager:
    """Stages one stream into `target`, part by part, in committed, checkpointed chunks.

    A chunk never spans two parts, so the chunks of a batch are the same on every attempt
    as long as each part's rows are (they are: parts are read and shaped the same way).
    Creating a Stager reads the stream's last checkpoint and counts the rows behind it; if
    they are not all there (an UNLOGGED table emptied by a PostgreSQL crash) the stream is
    staged again from the start. `put(i, rows)` then writes what part i still lacks;
    `needs(i)` says whether it lacks anything, so committed parts need not even be read.
    Parts must be put in increasing order, each once.
    """

    def __init__(
        self,
        engine: Engine,
        target: Table,
        *,
        batch_id: int,
        chunk_rows: int,
        step_id: int | None = None,
        on_chunk: ChunkHook | None = None,
        stream: str | None = None,
    ) -> None:
        self.engine, self.target, self.batch_id = engine, target, batch_id
        self.chunk_rows, self.step_id, self.on_chunk = chunk_rows, step_id, on_chunk
        self.stream = stream or target.name
        self.written = 0
        with engine.connect() as conn:
            last = batch_checkpoint(conn, batch_id, self.stream)
            present = conn.execute(
                select(func.count()).select_from(target).where(target.c.batch_id == batch_id)
            ).scalar_one()
        self.chunk = last.chunk if last is not None else 0
        self.done = Position.parse(last.position) if last is not None else Position()
        self.present, self.skipped = present, self.chunk
        if present != self.done.rows:
            self._restart()
        self._writer = copy_rows if engine.dialect.name == "postgresql" else _insert_chunk

    def _restart(self) -> None:
        if self.present or self.done.rows:
            log.warning(
                "batch %s: %s holds %s rows where checkpoint says %s; staging it again",
                self.batch_id,
                self.stream,
                self.present,
                self.done.rows,
            )
        with self.engine.begin() as conn:
            conn.execute(delete(self.target).where(self.target.c.batch_id == self.batch_id))
        self.done, self.chunk, self.present, self.skipped = Position(), 0, 0, 0

    def needs(self, part: int) -> bool:
        """Whether part `part` may still have rows to write (False: all committed)."""
        return part >= self.done.part

    def put(self, part: int, data: pa.Table) -> None:
        """Write the rows of part `part` that are not committed yet."""
        if part < self.done.part:
            return
        start = self.done.at if part == self.done.part else 0
        if start > data.num_rows and part == 0:
            self._restart()  # more rows committed than there are: start over
            start = 0
        elif start > data.num_rows:
            raise RuntimeError(
                f"batch {self.batch_id}: {self.stream} checkpoint is {start} rows into part"
                f" {part}, which has only {data.num_rows}: the batch's content changed"
            )
        columns = [c.name for c in self.target.columns if c.name in data.column_names]
        data = data.select(columns)
        done = start
        while done < data.num_rows:
            chunk = data.slice(done, self.chunk_rows)
            self.chunk += 1
            position = Position(self.done.rows + chunk.num_rows, part, done + chunk.num_rows)
            with self.engine.begin() as conn:
                self._writer(
                    conn, self.target, ["batch_id", *columns], _with_batch(chunk, self.batch_id)
                )
                record_checkpoint(
                    conn,
                    step_id=self.step_id,
                    batch_id=self.batch_id,
                    stream=self.stream,
                    chunk=self.chunk,
                    position=position.text(),
                )
            self.done, done = position, position.at
            self.written += 1
            if self.on_chunk is not None:
                self.on_chunk(self.stream, self.chunk)

    def staged(self) -> Staged:
        return Staged(rows=self.done.rows, chunks_written=self.written, chunks_skipped=self.skipped)


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
    """Write `data` (columns named as `target`'s, without batch_id) into `target`: one
    part (see `Stager`). `stream` names the checkpoints and the `on_chunk` calls (default:
    the table's name)."""
    stager = Stager(
        engine,
        target,
        batch_id=batch_id,
        chunk_rows=chunk_rows,
        step_id=step_id,
        on_chunk=on_chunk,
        stream=stream,
    )
    stager.put(0, data)
    return stager.staged()


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


def copy_rows(conn: Connection, target: Table, columns: list[str], part: pa.Table) -> None:
    """`part`'s `columns` into `target` by `COPY ... FROM STDIN`, in `conn`'s transaction."""
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
