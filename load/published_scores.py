"""The published CRM customers' qualified counts and score totals per customer type, for
the quality gate's comparison of a daily night with the previous published date
(crm_pipeline.quality; docs/quality.md, "Daily runs").

crm_customer holds every customer that ever qualified (a first load stages only the
qualified ones), so the comparable totals are those of the qualified customers. Sums are
exact: NUMERIC on PostgreSQL; on SQLite (decimal text, whose SUM would be a float) they
are added up here as Decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from load.tables.published import crm_customer

# Identification numbers per query of `touched_totals` (below SQLite's bound parameters).
_CHUNK = 500

CustomerId = tuple[str, str, str]  # (cust_type, id_type, id_no): a merged customer's key


@dataclass(frozen=True)
class Totals:
    qualified: int
    score: Decimal  # sum of the qualified customers' scores


def province_totals(engine: Engine, province: str) -> dict[str, Totals]:
    """{cust_type: Totals} of the province's qualified customers as published."""
    c = crm_customer.c
    where = (c.province == province, c.qualified.is_(True))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                select(c.cust_type, func.count(), func.sum(c.score)).where(*where)
                .group_by(c.cust_type)
            ).all()  # fmt: skip
            return {str(t): Totals(int(n), Decimal(s or 0)) for t, n, s in rows}
        out: dict[str, Totals] = {}
        for kind, score in conn.execute(select(c.cust_type, c.score).where(*where)):
            old = out.get(kind, Totals(0, Decimal(0)))
            out[kind] = Totals(old.qualified + 1, old.score + score)
        return out


def touched_totals(engine: Engine, province: str, ids: Iterable[CustomerId]) -> dict[str, Totals]:
    """{cust_type: Totals} of those of `ids` that are qualified CRM customers as published
    (what a daily batch replaces)."""
    wanted = set(ids)
    numbers = sorted({i[2] for i in wanted})
    c = crm_customer.c
    out: dict[str, Totals] = {}
    with engine.connect() as conn:
        for start in range(0, len(numbers), _CHUNK):
            rows = conn.execute(
                select(c.cust_type, c.id_type, c.id_no, c.score).where(
                    c.province == province,
                    c.qualified.is_(True),
                    c.id_no.in_(numbers[start : start + _CHUNK]),
                )
            )
            for kind, id_type, id_no, score in rows:
                if (kind, id_type, id_no) in wanted:
                    old = out.get(kind, Totals(0, Decimal(0)))
                    out[kind] = Totals(old.qualified + 1, old.score + score)
    return out
