"""What the transform stage hands to the load stage for one (business date, province, mode)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa

from common.intermediate import num_rows, read_table

# A daily batch's mark of each of its links, source records and accounts against the
# previous date (crm_pipeline.daily.delta), staged in `stg_*.delta` (load.upserts): as the
# previous date had it, new or different, or a key the day no longer gives. MOVED (a key
# the previous date had under another customer) is the batch's only: it is staged as
# CHANGED, or as REMOVED when its new customer is not a CRM customer (load.prepare).
DELTA_SAME, DELTA_CHANGED, DELTA_REMOVED, DELTA_MOVED = "same", "changed", "removed", "moved"


@dataclass(frozen=True)
class FileCounts:
    """Reconciliation of one data file: read = kept + set_aside + filtered, always."""

    file: str
    branch: str
    system: str
    entity: str
    read: int
    kept: int
    set_aside: int
    filtered: int
    flagged: int = 0  # kept, but with an identification number failing its check

    def balanced(self) -> bool:
        counts = (self.read, self.kept, self.set_aside, self.filtered)
        return min(counts) >= 0 and self.read == self.kept + self.set_aside + self.filtered


@dataclass(frozen=True)
class TableParts:
    """A table kept on disk as Parquet parts, read one part at a time.

    A province's initial load is transformed bucket by bucket (transform/partition.py):
    every customer identity, with all its source records and accounts, falls in exactly one
    bucket. The batch's big tables are then these parts, part i of every table belonging to
    bucket i, so the load can stage them part by part and its memory is bounded by the
    largest part, not by the province. Parts are read in order and always the same way, so
    a restart slices the same chunks again.
    """

    paths: tuple[Path, ...]
    schema: pa.Schema

    def __iter__(self) -> Iterator[pa.Table]:
        """The parts in order, each decoded on the caller's thread only (not Arrow's pool):
        the state snapshot reads them beside the warehouse load, which needs the cores."""
        for path in self.paths:
            yield read_table(path, schema=self.schema)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_rows(self) -> int:
        return sum(num_rows(p) for p in self.paths)

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole table (or some of its columns) at once: for narrow reads and tests."""
        if not self.paths:
            table = self.schema.empty_table()
            return table.select(list(columns)) if columns is not None else table
        return pa.concat_tables(read_table(p, columns, self.schema) for p in self.paths)


# A table of a batch: in memory, or on disk in parts.
BatchTable: TypeAlias = pa.Table | TableParts


def parts_of(table: BatchTable) -> Iterator[pa.Table]:
    """The parts of a batch table, in order (an in-memory table is one part)."""
    if isinstance(table, pa.Table):
        yield table
    else:
        yield from table


@dataclass(frozen=True)
class ProvinceBatch:
    """Everything one province's load writes to the warehouse, as Arrow tables.

    customers: common.schema.MERGED_CUSTOMER joined with CUSTOMER_SCORE (cust_key)
    links: CUSTOMER_LINK (every source record and its merged customer)
    source_customers: SOURCE_CUSTOMER (contact details per source record)
    accounts: SOURCE_ACCOUNT + cust_key, balance_cny (decimal128(38, 8)), in_scope (bool)
    rejects: REJECT

    The four big tables may be TableParts; when they are, they have the same number of
    parts and part i of each belongs to the same customers (bucket i): a customer's links,
    source records and accounts are in the part where the customer is.
    """

    business_date: date
    province: str
    mode: str  # initial | daily
    customers: BatchTable
    links: BatchTable
    source_customers: BatchTable
    accounts: BatchTable
    rejects: pa.Table
    files: list[FileCounts] = field(default_factory=list)
    formula_ids: dict[str, str] = field(default_factory=dict)  # cust_type -> formula id
    # The identity of the run's inputs as JSON text (crm_pipeline.run_identity): a staged
    # batch of other inputs is never resumed, even when its counts happen to agree, and the
    # published batch keeps it (crm_load_batch.inputs) so a rerun can tell other inputs.
    inputs: str = ""
