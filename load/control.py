"""Control data: runs, steps and checkpoints, in the spirit of Spring Batch's job repository.

One `crm_run` row per attempt at a (business date, province, mode), one `crm_step` row per
step execution with its counts, and `crm_checkpoint` rows for progress inside a batch's
staging (load.bulk, recorded with the chunk they describe; a restart of the batch reads
them back with `batch_checkpoint`). Every other write commits at once, so the record
survives the crash it is meant to explain; `crm-pipeline status` reads it (load.report).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from load.tables import crm_checkpoint, crm_run, crm_step

STARTED, COMPLETED, FAILED = "started", "completed", "failed"
# Counts with their own column (the rest are kept in the JSON `counts` column only).
COUNT_COLUMNS = {
    "read": "read_count",
    "kept": "kept_count",
    "set_aside": "set_aside_count",
    "filtered": "filtered_count",
    "written": "written_count",
}


@dataclass(frozen=True)
class Checkpoint:
    """The last committed chunk of a stream: work up to `position` need not be redone."""

    checkpoint_id: int
    step_id: int | None
    batch_id: int | None
    stream: str
    chunk: int
    position: str
    committed_at: datetime


@dataclass(frozen=True)
class StepRecord:
    step_id: int
    run_id: int
    name: str
    state: str
    counts: dict[str, int]
    started_at: datetime
    ended_at: datetime | None
    error: str | None


def _new_id(key: object) -> int:
    if key is None:  # pragma: no cover - every control table has a generated key
        raise RuntimeError("the database returned no generated key")
    return int(key[0])  # type: ignore[index]


def now() -> datetime:
    return datetime.now(UTC)


def start_run(engine: Engine, business_date: date, province: str, mode: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(crm_run).values(
                business_date=business_date,
                province=province,
                mode=mode,
                state=STARTED,
                started_at=now(),
                host=socket.gethostname()[:100],
                pid=os.getpid(),
            )
        )
        return _new_id(result.inserted_primary_key)


def finish_run(engine: Engine, run_id: int, state: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(crm_run).where(crm_run.c.run_id == run_id).values(state=state, ended_at=now())
        )


def record_warnings(engine: Engine, run_id: int, warnings: list[str]) -> None:
    """Keep what the run noticed but did not stop for, shown by `crm-pipeline status`."""
    with engine.begin() as conn:
        conn.execute(
            update(crm_run)
            .where(crm_run.c.run_id == run_id)
            .values(warnings=json.dumps(warnings, ensure_ascii=False) if warnings else None)
        )


def start_step(engine: Engine, run_id: int, name: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(crm_step).values(run_id=run_id, name=name, state=STARTED, started_at=now())
        )
        return _new_id(result.inserted_primary_key)


def finish_step(engine: Engine, step_id: int, counts: dict[str, int]) -> None:
    values: dict[str, object] = {
        column: counts[key] for key, column in COUNT_COLUMNS.items() if key in counts
    }
    with engine.begin() as conn:
        conn.execute(
            update(crm_step)
            .where(crm_step.c.step_id == step_id)
            .values(
                state=COMPLETED,
                ended_at=now(),
                counts=json.dumps({k: int(v) for k, v in counts.items()}, sort_keys=True),
                **values,
            )
        )


def fail_step(engine: Engine, step_id: int, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(crm_step)
            .where(crm_step.c.step_id == step_id)
            .values(state=FAILED, ended_at=now(), error=error)
        )


def record_checkpoint(
    conn: Connection,
    *,
    step_id: int | None,
    batch_id: int | None,
    stream: str,
    chunk: int,
    position: str,
) -> None:
    """Record a checkpoint on `conn`, inside the transaction that committed the chunk."""
    conn.execute(
        insert(crm_checkpoint).values(
            step_id=step_id,
            batch_id=batch_id,
            stream=stream,
            chunk=chunk,
            position=position,
            committed_at=now(),
        )
    )


def _checkpoint(row: object) -> Checkpoint:
    m = row._mapping  # type: ignore[attr-defined]
    return Checkpoint(
        checkpoint_id=m["checkpoint_id"],
        step_id=m["step_id"],
        batch_id=m["batch_id"],
        stream=m["stream"],
        chunk=m["chunk"],
        position=m["position"],
        committed_at=m["committed_at"],
    )


def batch_checkpoint(conn: Connection, batch_id: int, stream: str) -> Checkpoint | None:
    """The last checkpoint of a batch's stream (staging a table, resolving ids ...)."""
    row = conn.execute(
        select(crm_checkpoint)
        .where(crm_checkpoint.c.batch_id == batch_id, crm_checkpoint.c.stream == stream)
        .order_by(crm_checkpoint.c.checkpoint_id.desc())
        .limit(1)
    ).first()
    return _checkpoint(row) if row else None


def _step(row: object) -> StepRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return StepRecord(
        step_id=m["step_id"],
        run_id=m["run_id"],
        name=m["name"],
        state=m["state"],
        counts=json.loads(m["counts"]) if m["counts"] else {},
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        error=m["error"],
    )


def steps_of(conn: Connection, run_id: int) -> list[StepRecord]:
    rows = conn.execute(
        select(crm_step).where(crm_step.c.run_id == run_id).order_by(crm_step.c.step_id)
    )
    return [_step(row) for row in rows]
