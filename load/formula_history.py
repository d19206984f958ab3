"""Formula trials and acceptances, recorded in the warehouse (tables of load.tables.formula_history).

A formula goes live only through `formula accept`, which needs a trial of the very same
content (same sha256); what was tried, by whom, with what effect, and what was accepted
are kept here, with the scores they explain, so that any `formula_id` of `crm_customer`
can be traced to its text (`acceptance_of_formula`). Plain dataclasses in and out: the
orchestration never writes SQL.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert, select

from load.tables import (
    crm_formula_acceptance,
    crm_formula_accepted,
    crm_formula_trial,
    crm_formula_trial_count,
)


def _who() -> str:
    """The analyst: the login name (USER, LOGNAME...), as the shell knows it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name at all (a container without passwd entry)
        return "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TrialCount:
    """One province and customer type of a trial: what the candidate would change."""

    province: str
    cust_type: str
    customers: int
    qualified_now: int
    qualified_candidate: int
    enter: int
    leave: int
    formula_id_now: str | None
    formula_id_candidate: str


@dataclass(frozen=True)
class Trial:
    """A trial as recorded (`trial_id` 0 until it is)."""

    file: str  # the candidate's file name, as given
    name: str  # the formula it replaces (its `name:`)
    content_sha256: str
    content: str
    business_date: date
    report: str
    counts: list[TrialCount]
    tried_by: str = field(default_factory=_who)
    tried_at: datetime = field(default_factory=_now)
    trial_id: int = 0


@dataclass(frozen=True)
class Acceptance:
    """An acceptance as recorded (`acceptance_id` 0 until it is)."""

    trial_id: int  # the trial of the same content it rests on
    file: str  # the file of the formulas directory it wrote
    name: str
    content_sha256: str
    content: str
    effective_date: date
    formula_ids: dict[str, dict[str, str]]  # province -> cust_type -> formula id
    note: str = ""
    accepted_by: str = field(default_factory=_who)
    accepted_at: datetime = field(default_factory=_now)
    acceptance_id: int = 0


def record_trial(engine: Engine, trial: Trial) -> int:
    """Record a trial and its counts in one transaction; its `trial_id`."""
    with engine.begin() as conn:
        trial_id = conn.execute(
            insert(crm_formula_trial)
            .values(
                tried_by=trial.tried_by, tried_at=trial.tried_at, file=trial.file,
                name=trial.name, content_sha256=trial.content_sha256, content=trial.content,
                business_date=trial.business_date, report=trial.report,
            )
            .returning(crm_formula_trial.c.trial_id)
        ).scalar_one()  # fmt: skip
        if trial.counts:
            conn.execute(
                insert(crm_formula_trial_count),
                [
                    {
                        "trial_id": trial_id, "province": c.province, "cust_type": c.cust_type,
                        "customers": c.customers, "qualified_now": c.qualified_now,
                        "qualified_candidate": c.qualified_candidate, "entering": c.enter,
                        "leaving": c.leave, "formula_id_now": c.formula_id_now,
                        "formula_id_candidate": c.formula_id_candidate,
                    }
                    for c in trial.counts
                ],
            )  # fmt: skip
    return int(trial_id)


def _counts(engine: Engine, trial_ids: list[int]) -> dict[int, list[TrialCount]]:
    t = crm_formula_trial_count
    found: dict[int, list[TrialCount]] = {i: [] for i in trial_ids}
    with engine.connect() as conn:
        rows = conn.execute(
            select(t).where(t.c.trial_id.in_(trial_ids)).order_by(t.c.province, t.c.cust_type)
        ).all()
    for r in rows:
        found[r.trial_id].append(
            TrialCount(
                r.province, r.cust_type, r.customers, r.qualified_now, r.qualified_candidate,
                r.entering, r.leaving, r.formula_id_now, r.formula_id_candidate,
            )
        )  # fmt: skip
    return found


def trials(
    engine: Engine, name: str | None = None, content_sha256: str | None = None
) -> list[Trial]:
    """The trials of a formula name and/or of one content, oldest first, with their counts."""
    t = crm_formula_trial
    query = select(t).order_by(t.c.trial_id)
    if name is not None:
        query = query.where(t.c.name == name)
    if content_sha256 is not None:
        query = query.where(t.c.content_sha256 == content_sha256)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    counts = _counts(engine, [r.trial_id for r in rows])
    return [
        Trial(
            r.file, r.name, r.content_sha256, r.content, r.business_date, r.report or "",
            counts[r.trial_id], r.tried_by, r.tried_at, r.trial_id,
        )
        for r in rows
    ]  # fmt: skip


def latest_trial(engine: Engine, content_sha256: str) -> Trial | None:
    """The latest trial of exactly this content, if any (what `accept` rests on)."""
    found = trials(engine, content_sha256=content_sha256)
    return found[-1] if found else None


def record_acceptance(engine: Engine, acceptance: Acceptance) -> int:
    """Record an acceptance and the formula ids it puts in force; its `acceptance_id`."""
    a = acceptance
    with engine.begin() as conn:
        acceptance_id = conn.execute(
            insert(crm_formula_acceptance)
            .values(
                accepted_by=a.accepted_by, accepted_at=a.accepted_at, trial_id=a.trial_id,
                file=a.file, name=a.name, content_sha256=a.content_sha256, content=a.content,
                effective_date=a.effective_date, note=a.note,
            )
            .returning(crm_formula_acceptance.c.acceptance_id)
        ).scalar_one()  # fmt: skip
        rows = [
            {"acceptance_id": acceptance_id, "province": p, "cust_type": t, "formula_id": f}
            for p, by_type in sorted(a.formula_ids.items())
            for t, f in sorted(by_type.items())
        ]
        if rows:
            conn.execute(insert(crm_formula_accepted), rows)
    return int(acceptance_id)


def acceptances(engine: Engine, acceptance_id: int | None = None) -> list[Acceptance]:
    """Every acceptance, oldest first (the formulas in force over time), with its ids."""
    a, ids = crm_formula_acceptance, crm_formula_accepted
    query = select(a).order_by(a.c.acceptance_id)
    if acceptance_id is not None:
        query = query.where(a.c.acceptance_id == acceptance_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        id_rows = conn.execute(
            select(ids).where(ids.c.acceptance_id.in_([r.acceptance_id for r in rows]))
        ).all()
    by_acceptance: dict[int, dict[str, dict[str, str]]] = {}
    for i in id_rows:
        by_acceptance.setdefault(i.acceptance_id, {}).setdefault(i.province, {})[i.cust_type] = (
            i.formula_id
        )
    return [
        Acceptance(
            r.trial_id, r.file, r.name, r.content_sha256, r.content, r.effective_date,
            by_acceptance.get(r.acceptance_id, {}), r.note, r.accepted_by, r.accepted_at,
            r.acceptance_id,
        )
        for r in rows
    ]  # fmt: skip


def acceptance_of_formula(engine: Engine, formula_id: str) -> Acceptance | None:
    """The latest acceptance that put `formula_id` in force (a stored score to its text)."""
    ids = crm_formula_accepted
    with engine.connect() as conn:
        found = conn.execute(
            select(ids.c.acceptance_id)
            .where(ids.c.formula_id == formula_id)
            .order_by(ids.c.acceptance_id.desc())
            .limit(1)
        ).scalar()
    if found is None:
        return None
    return acceptances(engine, int(found))[0]
