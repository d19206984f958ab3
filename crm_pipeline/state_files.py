"""The files of a state snapshot: Arrow IPC written in large batches, swapped in whole.

A snapshot's folder is written aside and renamed into place (`fresh_tmp`, `replace_dir`),
so a reader never sees half of one; its tables are read memory-mapped (`mapped`), with no
decoding and no copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa

from common.batch import BatchTable, parts_of

BATCH_ROWS = 1 << 17  # rows of a state file's record batch (`write_arrow`)


def write_arrow(path: Path, table: BatchTable) -> None:
    """One Arrow IPC file, parts gathered into batches of about `BATCH_ROWS` rows, so
    memory is bounded by a batch. A daily run picks rows all over the province, and each
    batch it picks from costs a call per column: the initial load's thousands of small
    parts cost it seconds at 10 M accounts (issue 21)."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as arrow:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for part in parts_of(table):
            for batch in part.to_batches():
                pending.append(batch)
                rows += batch.num_rows
                if rows >= BATCH_ROWS:
                    arrow.write_table(pa.Table.from_batches(pending).combine_chunks())
                    pending, rows = [], 0
        if pending:
            arrow.write_table(pa.Table.from_batches(pending).combine_chunks())


def replace_dir(tmp: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)


def fresh_tmp(target: Path) -> Path:
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def mapped(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
