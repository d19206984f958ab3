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

from sqlalchemy import Integer, String, case, cast, func, select, type_coerce
from sqlalchemy.engine import Engine

from load.sql import chunks, one_of
from load.tables.published import crm_customer, crm_customer_key

CustomerId = tuple[str, str, str]  # (cust_type, id_type, id_no): a merged customer's key


@dataclass(frozen=True)
class Totals:
    qualified: int
    score: Decimal  # sum of the qualified customers' scores


def province_totals(engine: Engine, province: str) -> dict[str, Totals]:
    """{cust_type: Totals} of the province's qualified customers as published.

    On SQLite a score is decimal text with two decimals (load.types.Amount), so its cents
    are that text without its point: summed as integers in SQL, exactly, instead of
    hundreds of thousands of rows read into Python (2.5 s at 2 M customers). Should a row
    not have that form, the province is summed here as Decimals."""
    c = crm_customer.c
    where = (c.province == province, c.qualified.is_(True))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                select(c.cust_type, func.count(), func.sum(c.score)).where(*where)
                .group_by(c.cust_type)
            ).all()  # fmt: skip
            return {str(t): Totals(int(n), Decimal(s or 0)) for t, n, s in rows}
        text_score = type_coerce(c.score, String)
        two_decimals = func.instr(text_score, ".") == func.length(text_score) - 2
        cents = cast(func.replace(text_score, ".", ""), Integer)
        grouped = conn.execute(
            select(
                c.cust_type, func.count(), func.sum(cents),
                func.sum(case((two_decimals, 0), else_=1)),
            ).where(*where).group_by(c.cust_type)
        ).all()  # fmt: skip
        if all(int(odd or 0) == 0 for *_, odd in grouped):
            return {
                str(t): Totals(int(n), Decimal(int(total or 0)).scaleb(-2))
                for t, n, total, _ in grouped
            }
        out: dict[str, Totals] = {}
        for kind, score in conn.execute(select(c.cust_type, c.score).where(*where)):
            old = out.get(kind, Totals(0, Decimal(0)))
            out[kind] = Totals(old.qualified + 1, old.score + score)
        return out


def touched_totals(engine: Engine, province: str, ids: Iterable[CustomerId]) -> dict[str, Totals]:
    """{cust_type: Totals} of those of `ids` that are qualified CRM customers as published
    (what a daily batch replaces).

    Two look-ups by key, no join: the numbers from the registry's key (province, type, ID
    type, number), then those customers by their number. crm_customer has no index on the
    identity: looking them up there by `id_no` scanned the province once per chunk (16 s
    for a 2 M province's 67,000 touched customers on SQLite), and a join of the two tables
    was planned on PostgreSQL as a scan of crm_customer per chunk (seconds each)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for kind, id_type, id_no in sorted(set(ids)):
        groups.setdefault((kind, id_type), []).append(id_no)
    k, c = crm_customer_key.c, crm_customer.c
    out: dict[str, Totals] = {}
    with engine.connect() as conn:
        numbers: list[int] = []
        for (kind, id_type), id_nos in groups.items():
            for chunk in chunks(engine, id_nos):
                numbers += conn.execute(
                    select(k.crm_cust_id).where(
                        k.province == province, k.cust_type == kind, k.id_type == id_type,
                        one_of(engine, k.id_no, chunk, String()),
                    )
                ).scalars()  # fmt: skip
        numbers.sort()
        for chunk in chunks(engine, numbers):
            rows = conn.execute(
                select(c.cust_type, c.score).where(
                    one_of(engine, c.crm_cust_id, chunk, Integer()),
                    c.province == province, c.qualified.is_(True),
                )
            )  # fmt: skip
            for kind, score in rows:
                old = out.get(kind, Totals(0, Decimal(0)))
                out[kind] = Totals(old.qualified + 1, old.score + score)
    return out
