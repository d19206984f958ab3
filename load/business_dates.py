"""The warehouse's calendar: which business dates a province published, began, or has
complete transaction details for.

Read-only queries over `crm_load_batch` and `crm_txn_load`, so that the daily runs and
the statements (crm_pipeline) find their dates without SQL of their own.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from load.tables import PUBLISHED, crm_load_batch, crm_txn_load


def published_dates(engine: Engine, province: str) -> list[date]:
    """Every business date of `province` with a published batch (any mode), ascending."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date)
            .where(crm_load_batch.c.province == province, crm_load_batch.c.status == PUBLISHED)
            .distinct()
            .order_by(crm_load_batch.c.business_date)
        ).all()
    return [row[0] for row in rows]


def attempted_dates(engine: Engine, province: str, after: date, before: date) -> list[date]:
    """Business dates strictly between `after` and `before` with a batch that was begun."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date)
            .where(
                crm_load_batch.c.province == province,
                crm_load_batch.c.business_date > after,
                crm_load_batch.c.business_date < before,
            )
            .distinct()
        ).all()
    return sorted(row[0] for row in rows)


def published_batches(
    engine: Engine, province: str, first: date, last: date, mode: str | None = None
) -> dict[date, int]:
    """{business date: published batch id} of `province` in [first, last]."""
    where = [
        crm_load_batch.c.province == province,
        crm_load_batch.c.status == PUBLISHED,
        crm_load_batch.c.business_date >= first,
        crm_load_batch.c.business_date <= last,
    ]
    if mode is not None:
        where.append(crm_load_batch.c.mode == mode)
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.business_date, crm_load_batch.c.batch_id).where(*where)
        ).all()
    return {row[0]: int(row[1]) for row in rows}


def provinces_published_in(engine: Engine, first: date, last: date) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_load_batch.c.province)
            .where(
                crm_load_batch.c.status == PUBLISHED,
                crm_load_batch.c.business_date >= first,
                crm_load_batch.c.business_date <= last,
            )
            .distinct()
        ).all()
    return sorted(row[0] for row in rows)


def txn_loaded(engine: Engine, province: str, business_date: date) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                select(crm_txn_load.c.batch_id).where(
                    crm_txn_load.c.province == province,
                    crm_txn_load.c.business_date == business_date,
                )
            ).first()
            is not None
        )


def txn_loaded_dates(engine: Engine, province: str, first: date, last: date) -> set[date]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(crm_txn_load.c.business_date).where(
                crm_txn_load.c.province == province,
                crm_txn_load.c.business_date >= first,
                crm_txn_load.c.business_date <= last,
            )
        ).all()
    return {row[0] for row in rows}
