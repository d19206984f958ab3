"""The key indexes of a full state snapshot, written beside its tables and read with them.

Each full snapshot's table gets the indexes of the questions a daily run asks it
(`transform.key_index`): customers by key and by identification number, accounts by key
and by owner. They are files of the snapshot like its tables (Arrow IPC, memory-mapped,
uploaded as the step's outputs and fetched from the store), built from the written table
read back batch by batch, so memory is bounded by the hashes (sixteen bytes a row). A
layer has none: its rows are few and searched directly, behind the full snapshot's.
A snapshot without them (written before issue 21's indexes) is read as before, probed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from transform.key_index import KeyIndex, build_index, key_hashes, number_entries

log = logging.getLogger(__name__)

# The key of each state table, as in `crm_pipeline.daily.inputs`.
STATE_KEYS = {"customers": ["source", "cust_no"], "accounts": ["source", "acct_no"]}
OWNER = ["source", "cust_no"]

Entries = Callable[[pa.RecordBatch], tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]]


def _keyed(key: list[str]) -> Entries:
    return lambda batch: (key_hashes(batch, key), np.arange(batch.num_rows, dtype=np.int64))


# table -> index name -> (the columns it reads, the (hash, row) entries of one batch)
INDEXES: dict[str, dict[str, tuple[list[str], Entries]]] = {
    "customers": {
        "key": (STATE_KEYS["customers"], _keyed(STATE_KEYS["customers"])),
        "number": (["id_type", "id_no"], number_entries),
    },
    "accounts": {
        "key": (STATE_KEYS["accounts"], _keyed(STATE_KEYS["accounts"])),
        "owner": (OWNER, _keyed(OWNER)),
    },
}
_SCHEMA = pa.schema([("hash", pa.uint64()), ("row", pa.uint32())])
MAX_ROWS = int(np.iinfo(np.uint32).max)  # row numbers are stored in 32 bits
_COVERED, _INDEX, _TABLE_BYTES = b"covered", b"index", b"table_bytes"


def index_path(table_path: Path, index: str) -> Path:
    """`customers.arrow` -> `customers.key.index.arrow`."""
    return table_path.with_name(f"{table_path.stem}.{index}.index.arrow")


def write_indexes(table_path: Path, name: str) -> list[Path]:
    """Build and write the indexes of one written state table file; the files written
    (none for an index whose columns the table lacks: then that question probes)."""
    reader = pa.ipc.open_file(pa.memory_map(str(table_path)))
    covered = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    written: list[Path] = []
    if covered > MAX_ROWS:
        log.warning("%s: %d rows, too many to index; the table is probed", table_path, covered)
        return written
    for index, (columns, entries) in INDEXES[name].items():
        if not set(columns) <= set(reader.schema.names):
            continue
        hashes, rows, offset = [], [], 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            h, r = entries(batch)
            hashes.append(h)
            rows.append(r + offset)
            offset += batch.num_rows
        built = build_index(
            np.concatenate(hashes or [np.zeros(0, np.uint64)]),
            np.concatenate(rows or [np.zeros(0, np.int64)]),
            covered,
        )
        path = index_path(table_path, index)
        schema = _SCHEMA.with_metadata(_identity(table_path, index, covered))
        table = pa.table({"hash": built.hashes, "row": built.rows}, schema=schema)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as arrow:
            arrow.write_table(table)
        written.append(path)
    return written


def _identity(table_path: Path, index: str, covered: int) -> dict[bytes, bytes]:
    """What an index file says it indexes: which index, of how many rows of a table file
    of how many bytes (a table rewritten since, or another index's file, is not it)."""
    return {
        _INDEX: index.encode(),
        _COVERED: str(covered).encode(),
        _TABLE_BYTES: str(table_path.stat().st_size).encode(),
    }


def read_index(path: Path, table_path: Path, index: str, covered: int) -> KeyIndex | None:
    """An index file, memory-mapped; None (with a warning) when it cannot be read or is not
    this table's `index` over its `covered` rows: then the caller probes the table, which
    is slower but gives the same answers, so a damaged or stray index never fails a night
    nor changes its result."""
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        meta = table.schema.metadata or {}
        if meta != _identity(table_path, index, covered) or table.schema.remove_metadata() != (
            _SCHEMA
        ):
            log.warning("%s: not the %s index of %s; the table is probed", path, index, table_path)
            return None
        return KeyIndex(_numpy(table.column("hash")), _numpy(table.column("row")), covered)
    except (OSError, pa.ArrowException) as exc:
        log.warning("%s: unreadable (%s); the table is probed", path, exc)
        return None


def _numpy(column: pa.ChunkedArray) -> npt.NDArray[Any]:
    """A column as numpy, without a copy when it is one chunk (as written)."""
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return array.to_numpy()
