"""What an export of a published batch reads: the batch's row and the province's CRM rows,
all from one consistent snapshot of the warehouse.

The warehouse holds each province's CRM tables as of its latest publication (a daily
batch updates rows in place and deletes those no longer sent), so an export is a full
image of the province, and it is only an image *of a batch* while no later batch of the
province has been published. `ExportReader` reads the batch rows and the table rows in one
read transaction (REPEATABLE READ on PostgreSQL; SQLite's WAL gives a deferred read
transaction its snapshot), so a publication committed meanwhile can never be half in the
files. Rows come in chunks, in a stable order (identifiers in byte order on both
databases), so a re-export gives identical bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy import text as sql_text

from load.sql import c_order
from load.tables import PUBLISHED, crm_load_batch, metadata

CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class BatchRow:
    """One row of `crm_load_batch`, as the export names and checks it."""

    batch_id: int
    business_date: date
    province: str
    mode: str
    status: str
    published_at: datetime | None
    customers: int | None
    qualified: int | None
    accounts: int | None
    rejects: int | None

    @property
    def published(self) -> bool:
        return self.status == PUBLISHED


def _batch(row: Any) -> BatchRow:
    return BatchRow(
        int(row.batch_id), row.business_date, row.province, row.mode, row.status,
        row.published_at, row.customers, row.qualified, row.accounts, row.rejects,
    )  # fmt: skip


_BATCH_COLUMNS = [
    crm_load_batch.c[name]
    for name in (
        "batch_id", "business_date", "province", "mode", "status", "published_at",
        "customers", "qualified", "accounts", "rejects",
    )
]  # fmt: skip


class ExportReader:
    """One read transaction over the warehouse; open it with `ExportReader.open(engine)`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @classmethod
    @contextmanager
    def open(cls, engine: Engine) -> Iterator[ExportReader]:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin() if conn.dialect.name == "postgresql" else _deferred(conn):
                yield cls(conn)

    def batches(self, business_date: date, province: str) -> list[BatchRow]:
        """Every batch of (date, province), any mode and state, the newest first."""
        rows = self.conn.execute(
            select(*_BATCH_COLUMNS)
            .where(
                crm_load_batch.c.business_date == business_date,
                crm_load_batch.c.province == province,
            )
            .order_by(crm_load_batch.c.batch_id.desc())
        ).all()
        return [_batch(row) for row in rows]

    def latest_published(self, province: str) -> BatchRow | None:
        """The province's batch published last (whatever its date): the one whose image
        the CRM tables hold."""
        row = self.conn.execute(
            select(*_BATCH_COLUMNS)
            .where(crm_load_batch.c.province == province, crm_load_batch.c.status == PUBLISHED)
            .order_by(crm_load_batch.c.published_at.desc(), crm_load_batch.c.batch_id.desc())
            .limit(1)
        ).first()
        return None if row is None else _batch(row)

    def rows(
        self,
        table_name: str,
        columns: Sequence[str],
        order: Sequence[str],
        province: str,
        chunk_rows: int = CHUNK_ROWS,
    ) -> Iterator[Sequence[tuple[Any, ...]]]:
        """The province's rows of `table_name` (those `columns`), sorted by `order` (text
        columns in byte order), in chunks of at most `chunk_rows`."""
        table: Table = metadata.tables[table_name]
        unknown = [c for c in (*columns, *order) if c not in table.c]
        if unknown:
            raise KeyError(f"{table_name} has no column(s) {', '.join(unknown)}")
        engine: Any = self.conn.engine
        ordering = ", ".join(
            c_order(engine, name) if table.c[name].type.python_type is str else name
            for name in order
        )
        query = (
            select(*(table.c[c] for c in columns))
            .where(table.c.province == province)
            .order_by(sql_text(ordering))
        )
        result = self.conn.execution_options(yield_per=chunk_rows).execute(query)
        for part in result.partitions(chunk_rows):
            yield [tuple(row) for row in part]


@contextmanager
def _deferred(conn: Connection) -> Iterator[None]:
    """SQLite: the first SELECT begins a deferred read transaction (load/engine.py), which
    sees one snapshot until it ends; end it when the export is read."""
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
