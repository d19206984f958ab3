"""A batch's row in `crm_load_batch`: open it (or resume it), look it up, end it.

A batch is the unit of publication of one (business date, province, mode). Opening one
resumes the unfinished batch of the same content or abandons it; its staging rows and its
own tables are dropped once it is published or abandoned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from common.batch import FileCounts
from load import batch_tables
from load.control import now
from load.tables import (
    ABANDONED,
    PUBLISHED,
    STAGING,
    STAGING_TABLES,
    crm_file_count,
    crm_load_batch,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchKey:
    business_date: date
    province: str
    mode: str

    def where(self, table: Table = crm_load_batch) -> list[object]:
        return [
            table.c.business_date == self.business_date,
            table.c.province == self.province,
            table.c.mode == self.mode,
        ]


def published_batch(conn: Connection, key: BatchKey) -> int | None:
    return conn.execute(
        select(crm_load_batch.c.batch_id).where(
            *key.where(),  # type: ignore[arg-type]
            crm_load_batch.c.status == PUBLISHED,
        )
    ).scalar()


def open_batch(
    engine: Engine, key: BatchKey, fingerprint: str, run_id: int | None, inputs: str = ""
) -> tuple[int, bool]:
    """The batch to write: the unfinished one of the same content (resumed), or a new one,
    which keeps the identity of the run's `inputs` (crm_pipeline.run_identity).

    Unfinished batches of other content are abandoned and their staging rows dropped.
    """
    with engine.begin() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.batch_id, crm_load_batch.c.fingerprint)
            .where(*key.where(), crm_load_batch.c.status == STAGING)  # type: ignore[arg-type]
            .order_by(crm_load_batch.c.batch_id.desc())
        ).all()
        resume = rows[0].batch_id if rows and rows[0].fingerprint == fingerprint else None
        stale = [row.batch_id for row in rows if row.batch_id != resume]
        if stale:
            conn.execute(
                update(crm_load_batch)
                .where(crm_load_batch.c.batch_id.in_(stale))
                .values(status=ABANDONED)
            )
        if resume is None:
            inserted = conn.execute(
                insert(crm_load_batch).values(
                    business_date=key.business_date,
                    province=key.province,
                    mode=key.mode,
                    status=STAGING,
                    created_at=now(),
                    run_id=run_id,
                    fingerprint=fingerprint,
                    inputs=inputs or None,
                )
            ).inserted_primary_key
            assert inserted is not None  # crm_load_batch has a generated key
            resume = int(inserted[0])
            resumed = False
        else:
            resumed = True
    for batch_id in stale:
        log.info("batch %s of %s abandoned: content differs", batch_id, key)
        drop_staging(engine, batch_id)
    return int(resume), resumed


def drop_staging(engine: Engine, batch_id: int) -> None:
    """Delete a batch's staging rows, one table per transaction (row deletes, no TRUNCATE:
    a TRUNCATE would lock out the provinces loading at the same time), and its own tables
    that were not attached (see load.batch_tables)."""
    for table in STAGING_TABLES:
        with engine.begin() as conn:
            conn.execute(delete(table).where(table.c.batch_id == batch_id))
    batch_tables.drop_batch_table(engine, batch_id)


def abandon(conn: Connection, batch_id: int) -> None:
    """Mark the batch abandoned (it will never be published; its staging is dropped)."""
    conn.execute(
        update(crm_load_batch).where(crm_load_batch.c.batch_id == batch_id).values(status=ABANDONED)
    )


def published_inputs(conn: Connection, key: BatchKey) -> str | None:
    """The input identity the published batch of `key` was computed from (None: none
    recorded, or no published batch)."""
    return conn.execute(
        select(crm_load_batch.c.inputs).where(
            *key.where(),  # type: ignore[arg-type]
            crm_load_batch.c.status == PUBLISHED,
        )
    ).scalar()


def latest_status(engine: Engine, key: BatchKey) -> str | None:
    """Status of the latest batch of `key`; None if there is none."""
    with engine.connect() as conn:
        return conn.execute(
            select(crm_load_batch.c.status)
            .where(*key.where())  # type: ignore[arg-type]
            .order_by(crm_load_batch.c.batch_id.desc())
            .limit(1)
        ).scalar()


def record_file_counts(conn: Connection, batch_id: int, files: Iterable[FileCounts]) -> None:
    """The input files' counts (read = kept + set aside + filtered) with the batch."""
    rows = [
        {
            "batch_id": batch_id,
            "file": f.file,
            "branch": f.branch,
            "system": f.system,
            "entity": f.entity,
            "read": f.read,
            "kept": f.kept,
            "set_aside": f.set_aside,
            "filtered": f.filtered,
            "flagged": f.flagged,
        }
        for f in files
    ]
    if rows:
        conn.execute(insert(crm_file_count), rows)


def province_empty(conn: Connection, table: Table, province: str) -> bool:
    """Whether `table` holds no row of `province` (one index probe): the province's first
    publication into it, under the publication lock, so no other batch can add any."""
    return (
        conn.execute(select(table.c.province).where(table.c.province == province).limit(1)).first()
        is None
    )


@dataclass(frozen=True)
class BatchResult:
    """What `write_batch` did.

    status: `published` (this call published the batch) or `unchanged` (the date was
    already published and `force` was not given: nothing was written).
    """

    batch_id: int
    status: str
    resumed: bool = False
    customers: int = 0  # CRM customers written (qualified + already known)
    qualified: int = 0
    new_ids: int = 0
    sources: int = 0
    contacts: int = 0
    accounts: int = 0
    rejects: int = 0
    files: int = 0
    chunks_written: int = 0
    chunks_skipped: int = 0  # committed by an earlier, interrupted attempt

    @property
    def published(self) -> bool:
        return self.status == "published"
