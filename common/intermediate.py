"""How a run's intermediate tables are written and read back: Parquet, or Arrow IPC files
(`.arrow`, LZ4-compressed) for those read back whole on the same machine.

Why two: the staged files of ingestion and the customer cuts are Parquet (uncompressed,
dictionaries on the code columns), read in narrow column slices or once. An initial
load's account cuts (read whole by the score step and by the state snapshot), its
scoring input (by the warehouse load and the formula trial) and its source customers (by
the load's contacts and the state snapshot) are read back whole, minutes after they were
written. For a bucket of 250,000 accounts (CPU, one thread): Parquet writes in 36 ms and
reads in 48 ms; LZ4 IPC writes in 34 ms and reads in 15 ms, in 18 MiB against 34. IPC
without compression reads in 5 ms but takes 68 MiB: its null decimals take their sixteen
bytes, and a thirty-million-account run filled the disk with it. On a run that keeps both
cores busy from ingestion to publication, those reads were the largest single saving left.

Every reader goes through `read_table` (it tells the formats apart by the suffix), so a
table's parts may be either, and files written by an earlier version still read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

# Columns of few distinct values (codes, systems, files, branches): dictionary-encoded in
# staged files. Names and numbers are not: building a dictionary of millions of distinct
# values, only to drop it when it outgrows its page, was a third of the time of writing a
# staged file (a 1.7-million-row customer file cut in 33 buckets: 1.29 s -> 0.83 s, same size).
CODE_COLUMNS = (
    "source", "file", "branch", "branch_code", "province", "currency", "kind", "status",
    "product", "fund_code", "cust_type", "id_type", "gender", "postcode", "role",
    "master_source", "formula_id",
)  # fmt: skip
# Staged files are intermediates read once or twice on the same machine: uncompressed
# Parquet writes two to three times faster than snappy and reads faster too; nothing reads
# them by predicate, so no statistics.
STAGED_PARQUET = {
    "compression": "none",
    "use_dictionary": list(CODE_COLUMNS),
    "write_statistics": False,
}

IPC_SUFFIX = ".arrow"
PART_SUFFIXES = (".parquet", IPC_SUFFIX)
# On the writer's thread: the workers are the parallelism (runner._init_worker).
IPC_WRITE = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)


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
            self._ipc = pa.ipc.new_file(str(path), schema, options=IPC_WRITE)
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
    if not is_ipc(path) and columns is None:
        return pq.read_table(path, schema=schema, use_threads=False)
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
