"""What `crm-pipeline status` shows: runs, steps, counts, checkpoints and batches of a date.

Read-only queries returning plain rows, so the CLI formats them without touching SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine, func, select

from load.control import StepRecord, steps_of
from load.tables import crm_checkpoint, crm_load_batch, crm_run


@dataclass(frozen=True)
class StreamProgress:
    """The checkpoints of one stream of a step (or of a batch's staging)."""

    stream: str
    chunks: int  # checkpoints recorded
    last_chunk: int
    position: str
    committed_at: datetime


@dataclass(frozen=True)
class RunReport:
    run_id: int
    business_date: date
    province: str
    mode: str
    state: str
    started_at: datetime
    ended_at: datetime | None
    host: str | None
    steps: list[tuple[StepRecord, list[StreamProgress]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the run noticed (landing)


@dataclass(frozen=True)
class BatchReport:
    batch_id: int
    province: str
    mode: str
    status: str
    created_at: datetime
    published_at: datetime | None
    customers: int | None
    qualified: int | None
    accounts: int | None
    rejects: int | None
    staging: list[StreamProgress] = field(default_factory=list)


def _progress(engine: Engine, where: object) -> list[StreamProgress]:
    last = (
        select(
            crm_checkpoint.c.stream,
            func.count().label("chunks"),
            func.max(crm_checkpoint.c.checkpoint_id).label("last_id"),
        )
        .where(where)  # type: ignore[arg-type]
        .group_by(crm_checkpoint.c.stream)
        .subquery()
    )
    query = (
        select(last.c.stream, last.c.chunks, crm_checkpoint)
        .join(crm_checkpoint, crm_checkpoint.c.checkpoint_id == last.c.last_id)
        .order_by(last.c.last_id)
    )
    with engine.connect() as conn:
        return [
            StreamProgress(
                stream=row.stream,
                chunks=row.chunks,
                last_chunk=row.chunk,
                position=row.position,
                committed_at=row.committed_at,
            )
            for row in conn.execute(query)
        ]


def runs(engine: Engine, business_date: date, province: str | None = None) -> list[RunReport]:
    query = select(crm_run).where(crm_run.c.business_date == business_date)
    if province:
        query = query.where(crm_run.c.province == province)
    reports = []
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(crm_run.c.run_id)).all()
        for row in rows:
            steps = [
                (step, _progress(engine, crm_checkpoint.c.step_id == step.step_id))
                for step in steps_of(conn, row.run_id)
            ]
            reports.append(
                RunReport(
                    run_id=row.run_id,
                    business_date=row.business_date,
                    province=row.province,
                    mode=row.mode,
                    state=row.state,
                    started_at=row.started_at,
                    ended_at=row.ended_at,
                    host=row.host,
                    steps=steps,
                    warnings=json.loads(row.warnings) if row.warnings else [],
                )
            )
    return reports


def batches(engine: Engine, business_date: date, province: str | None = None) -> list[BatchReport]:
    query = select(crm_load_batch).where(crm_load_batch.c.business_date == business_date)
    if province:
        query = query.where(crm_load_batch.c.province == province)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(crm_load_batch.c.batch_id)).all()
    return [
        BatchReport(
            batch_id=row.batch_id,
            province=row.province,
            mode=row.mode,
            status=row.status,
            created_at=row.created_at,
            published_at=row.published_at,
            customers=row.customers,
            qualified=row.qualified,
            accounts=row.accounts,
            rejects=row.rejects,
            staging=_progress(
                engine,
                crm_checkpoint.c.batch_id == row.batch_id,
            ),
        )
        for row in rows
    ]


__all__ = ["BatchReport", "RunReport", "StreamProgress", "batches", "runs"]
