"""The quality gate's records in the warehouse: verdicts, failed expectations, acceptances
(load/tables/quality.py). The gate itself is crm_pipeline.quality; this is its storage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine

from load.control import now
from load.tables.published import PUBLISHED, crm_load_batch
from load.tables.quality import (
    ACCEPTED,
    HELD,
    crm_quality_accept,
    crm_quality_failure,
    crm_quality_result,
)


@dataclass(frozen=True)
class Failure:
    """One expectation that failed, on one subject (a file, a currency, a type)."""

    check: str
    severity: str
    subject: str
    observed: str
    expected: str


@dataclass(frozen=True)
class Acceptance:
    accepted_by: str
    accepted_at: datetime
    reason: str


@dataclass(frozen=True)
class QualityResult:
    result_id: int
    run_id: int | None
    business_date: date
    province: str
    mode: str
    inputs: str | None
    verdict: str
    checked_at: datetime
    metrics: dict[str, Any]
    docs: str | None
    failures: list[Failure]
    acceptance: Acceptance | None


@dataclass(frozen=True)
class Night:
    """Which night and run a gate evaluation belongs to."""

    business_date: date
    province: str
    mode: str
    inputs: str | None
    run_id: int | None = None


def record_result(
    engine: Engine,
    night: Night,
    verdict: str,
    metrics: dict[str, Any],
    docs: str | None,
    failures: Sequence[Failure],
) -> int:
    """Store one evaluation and its failed expectations, in one transaction; its id."""
    with engine.begin() as conn:
        key = conn.execute(
            insert(crm_quality_result).values(
                run_id=night.run_id,
                business_date=night.business_date,
                province=night.province,
                mode=night.mode,
                inputs=night.inputs,
                verdict=verdict,
                critical=sum(f.severity == "critical" for f in failures),
                warnings=sum(f.severity == "warning" for f in failures),
                checked_at=now(),
                metrics=json.dumps(metrics, sort_keys=True),
                docs=docs,
            )
        ).inserted_primary_key
        assert key is not None
        result_id = int(key[0])
        if failures:
            conn.execute(
                insert(crm_quality_failure),
                [
                    {
                        "result_id": result_id,
                        "check_name": f.check,
                        "severity": f.severity,
                        "subject": f.subject,
                        "observed": f.observed,
                        "expected": f.expected,
                    }
                    for f in failures
                ],
            )
    return result_id


def previous_metrics(
    engine: Engine, business_date: date, province: str
) -> tuple[date, str, dict[str, Any]] | None:
    """(date, mode, metrics) of the latest published date before `business_date`: its last
    evaluation that let a batch through (passed, warned or accepted); None when none."""
    r, b = crm_quality_result.c, crm_load_batch.c
    query = (
        select(r.business_date, r.mode, r.metrics)
        .select_from(
            crm_quality_result.join(
                crm_load_batch,
                and_(
                    b.business_date == r.business_date,
                    b.province == r.province,
                    b.mode == r.mode,
                    b.status == PUBLISHED,
                ),
            )
        )
        .where(r.province == province, r.business_date < business_date, r.verdict != HELD)
        .order_by(r.business_date.desc(), r.result_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return _day(row.business_date), str(row.mode), json.loads(row.metrics)


def _day(value: object) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[return-value]


def results(
    engine: Engine, business_date: date, province: str | None = None, latest: bool = False
) -> list[QualityResult]:
    """The evaluations of a date (of one province), oldest first; `latest`: only the last
    one of each province and mode."""
    r = crm_quality_result.c
    query = select(crm_quality_result).where(r.business_date == business_date)
    if province:
        query = query.where(r.province == province)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(r.result_id)).all()
        if latest:
            last = {(row.province, row.mode): row for row in rows}
            rows = sorted(last.values(), key=lambda row: row.result_id)
        ids = [row.result_id for row in rows]
        failures = conn.execute(
            select(crm_quality_failure)
            .where(crm_quality_failure.c.result_id.in_(ids))
            .order_by(crm_quality_failure.c.failure_id)
        ).all()
        accepts = conn.execute(
            select(crm_quality_accept).where(crm_quality_accept.c.result_id.in_(ids))
        ).all()
    by_result: dict[int, list[Failure]] = {}
    for f in failures:
        by_result.setdefault(f.result_id, []).append(
            Failure(f.check_name, f.severity, f.subject, f.observed, f.expected)
        )
    accepted = {a.result_id: Acceptance(a.accepted_by, a.accepted_at, a.reason) for a in accepts}
    return [
        QualityResult(
            row.result_id,
            row.run_id,
            _day(row.business_date),
            row.province,
            row.mode,
            row.inputs,
            row.verdict,
            row.checked_at,
            json.loads(row.metrics),
            row.docs,
            by_result.get(row.result_id, []),
            accepted.get(row.result_id),
        )  # fmt: skip
        for row in rows
    ]


def accept(
    engine: Engine, business_date: date, province: str, accepted_by: str, reason: str
) -> QualityResult | None:
    """Record an operator's acceptance of the night's latest held evaluation (valid for
    the inputs it was computed from); that evaluation, None when the night is not held."""
    held = [q for q in results(engine, business_date, province, latest=True) if q.verdict == HELD]
    if not held:
        return None
    result = held[-1]
    with engine.begin() as conn:
        conn.execute(
            insert(crm_quality_accept).values(
                result_id=result.result_id,
                business_date=business_date,
                province=province,
                mode=result.mode,
                inputs=result.inputs,
                accepted_by=accepted_by,
                accepted_at=now(),
                reason=reason,
            )
        )
    return result


def acceptance(engine: Engine, night: Night) -> Acceptance | None:
    """The latest acceptance of this night given for the same inputs, if any."""
    a = crm_quality_accept.c
    query = (
        select(crm_quality_accept)
        .where(
            a.business_date == night.business_date,
            a.province == night.province,
            a.mode == night.mode,
            a.inputs == night.inputs,
        )
        .order_by(a.accept_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else Acceptance(row.accepted_by, row.accepted_at, row.reason)


def mark_accepted(engine: Engine, result_id: int, acceptance: Acceptance) -> None:
    """A held evaluation published under an acceptance: its verdict says so, and the
    acceptance is linked to it."""
    with engine.begin() as conn:
        row = conn.execute(
            select(crm_quality_result).where(crm_quality_result.c.result_id == result_id)
        ).first()
        if row is None:
            return
        conn.execute(
            update(crm_quality_result)
            .where(crm_quality_result.c.result_id == result_id)
            .values(verdict=ACCEPTED)
        )
        linked = conn.execute(
            select(crm_quality_accept.c.accept_id).where(
                crm_quality_accept.c.result_id == result_id
            )
        ).first()
        if linked is None:
            conn.execute(
                insert(crm_quality_accept).values(
                    result_id=result_id,
                    business_date=row.business_date,
                    province=row.province,
                    mode=row.mode,
                    inputs=row.inputs,
                    accepted_by=acceptance.accepted_by,
                    accepted_at=acceptance.accepted_at,
                    reason=acceptance.reason,
                )  # fmt: skip
            )
