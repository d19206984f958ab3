"""How a run's intermediate tables are written and read back: Parquet, or Arrow IPC files
(`.arrow`) for the largest ones read back whole on the same machine.

Why two: the staged files of ingestion and most of the cut are Parquet (uncompressed,
dictionaries on the code columns): compact, and read in narrow column slices. But an
initial load's account cuts (read whole by the score step and by the state snapshot) and
its scoring input (read whole by the warehouse load and by the formula trial) are read
back as they were written, once or twice, minutes later; decoding their Parquet cost a
score worker 120-150 ms of CPU a bucket of 300,000 accounts, reading the same table from
an IPC file 5-10 ms (a copy). On a CPU-bound run that is seconds at ten million accounts.
The price is disk: an IPC file holds its code columns plain (about twice the Parquet,
82 against 41 MiB a bucket of accounts), which is why the narrower and more numerous
tables stay Parquet.

Every reader goes through `read_table` (it tells the formats apart by the suffix), so a
table's parts may be either, and files written by an earlier version still read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from transform.ingest import STAGED_PARQUET

IPC_SUFFIX = ".arrow"
PART_SUFFIXES = (".parquet", IPC_SUFFIX)


def is_ipc(path: Path) -> bool:
    return path.suffix == IPC_SUFFIX


def write_table(table: pa.Table, path: Path) -> None:
    """`table` into `path`, in the format its suffix names."""
    if is_ipc(path):
        with PartWriter(path, table.schema) as writer:
            writer.write(table)
    else:
        pq.write_table(table, path, **STAGED_PARQUET)


class PartWriter:
    """One intermediate file written slice by slice (rows keep their order)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._parquet: pq.ParquetWriter | None = None
        self._ipc: pa.ipc.RecordBatchFileWriter | None = None
        if is_ipc(path):
            self._ipc = pa.ipc.new_file(str(path), schema)
        else:
            self._parquet = pq.ParquetWriter(path, schema, **STAGED_PARQUET)

    def write(self, table: pa.Table) -> None:
        if self._ipc is not None:
            self._ipc.write_table(table)
        else:
            assert self._parquet is not None
            self._parquet.write_table(table)

    def close(self) -> None:
        if self._ipc is not None:
            self._ipc.close()
        if self._parquet is not None:
            self._parquet.close()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def read_table(
    path: Path, columns: Sequence[str] | None = None, schema: pa.Schema | None = None
) -> pa.Table:
    """The table in `path` (those of `columns` it has, if given), decoded on the caller's
    thread: readers run beside other work (worker processes, COPYs) that has the cores.

    An IPC file is read by copy, not memory-mapped: its table must not depend on the file,
    which a rerun may rewrite while the table is still alive."""
    names = read_schema(path).names
    present = [c for c in columns if c in names] if columns is not None else names
    if not is_ipc(path):
        return pq.read_table(path, columns=present, schema=schema, use_threads=False)
    options = pa.ipc.IpcReadOptions(
        included_fields=[names.index(c) for c in present], use_threads=False
    )
    with pa.OSFile(str(path)) as source:
        return pa.ipc.open_file(source, options=options).read_all().select(present)


def read_schema(path: Path) -> pa.Schema:
    if is_ipc(path):
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).schema
    return pq.read_schema(path)


def num_rows(path: Path) -> int:
    if is_ipc(path):
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    return int(pq.ParquetFile(path).metadata.num_rows)
