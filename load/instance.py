"""Which warehouse this is, and which batch of a date is published: what a run's identity
(crm_pipeline.run_identity) is made of on the warehouse's side."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from load.tables import crm_instance, crm_load_batch

PUBLISHED = "published"


def instance_id(engine: Engine) -> str:
    """The warehouse's id, drawn when its schema was created (migration 0007)."""
    with engine.connect() as conn:
        found = conn.execute(select(crm_instance.c.instance_id)).scalar()
    if found is None:
        raise LookupError("the warehouse has no crm_instance row: run `crm-pipeline db upgrade`")
    return str(found)


def published_batch_id(engine: Engine, business_date: date, province: str) -> int | None:
    """The batch of the province's date that is published (any mode), None if none is."""
    with engine.connect() as conn:
        found = conn.execute(
            select(crm_load_batch.c.batch_id)
            .where(
                crm_load_batch.c.business_date == business_date,
                crm_load_batch.c.province == province,
                crm_load_batch.c.status == PUBLISHED,
            )
            .order_by(crm_load_batch.c.batch_id.desc())
            .limit(1)
        ).scalar()
    return None if found is None else int(found)
