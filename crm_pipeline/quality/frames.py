"""The small tables Great Expectations validates: a night's metrics next to the previous
published date's, one row per file, currency, customer type or province.

Values are exact Decimals (object columns): a share is set_aside / read, a change is
|now / before - 1|, computed at 28 significant digits. A value is None where it does not
apply (a file under `min_records`, no previous date, a previous value of 0): Great
Expectations skips missing values in the checks of one column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import pandas as pd

from crm_pipeline.quality.config import Checks, QualityConfig
from crm_pipeline.quality.layout_metrics import LAYOUT_CHECKS, LayoutMetric
from crm_pipeline.quality.metrics import NightMetrics, TypeScore


def share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole, None when whole is 0."""
    if not whole:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        return Decimal(part) / Decimal(whole)


def change(now: Decimal | int, before: Decimal | int | None) -> Decimal | None:
    """|now / before - 1|, None without a previous value (or a previous 0)."""
    if before is None or not before:
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        return abs(Decimal(now) / Decimal(before) - 1)


@dataclass(frozen=True)
class Previous:
    """The previous published date's metrics, and whether its files are comparable (the
    same run mode: an initial load's full files against a daily run's change files are
    not)."""

    day: str
    metrics: NightMetrics
    same_mode: bool


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


def files_frame(now: NightMetrics, before: Previous | None, checks: Checks) -> pd.DataFrame:
    old = {f.key: f for f in before.metrics.files} if before and before.same_mode else {}
    minimum = checks.set_aside_share.min_records
    rows = []
    for f in now.files:
        prev = old.get(f.key)
        rows.append(
            {
                "subject": f.file,
                "read": f.read,
                "set_aside": f.set_aside,
                "set_aside_share": share(f.set_aside, f.read) if f.read >= minimum else None,
                "previous_read": prev.read if prev else None,
                "records_change": change(f.read, prev.read if prev else None),
            }
        )
    return _frame(rows, ["subject", "read", "set_aside", "set_aside_share", "previous_read",
                         "records_change"])  # fmt: skip


def fx_frame(now: NightMetrics, before: Previous | None, config: QualityConfig) -> pd.DataFrame:
    old: dict[str, Decimal] = {}
    if before is not None:
        for r in before.metrics.rates:
            if r.cny_per_100 is not None and r.currency not in old:
                old[r.currency] = Decimal(r.cny_per_100)
    rows = []
    for r in now.rates:
        rate = Decimal(r.cny_per_100) if r.cny_per_100 is not None else None
        band = config.fx_band(r.currency)
        rows.append(
            {
                "subject": r.currency,
                "currency": r.currency,
                "quoted": rate is not None,
                "cny_per_100": rate,
                "rate_date": r.rate_date,
                "band_min": band.min if band else None,
                "band_max": band.max if band else None,
                "previous_rate": old.get(r.currency),
                "rate_change": change(rate, old.get(r.currency)) if rate is not None else None,
            }
        )
    return _frame(rows, ["subject", "currency", "quoted", "cny_per_100", "rate_date", "band_min", "band_max",
                         "previous_rate", "rate_change"])  # fmt: skip


def _compared_scores(before: Previous | None, now: NightMetrics) -> dict[str, TypeScore]:
    """The previous date's totals per type, when they sum the same customers as now's."""
    if before is None or before.metrics.scores is None or before.metrics.scores_of != now.scores_of:
        return {}
    return before.metrics.scores


def scores_frame(now: NightMetrics, before: Previous | None, checks: Checks) -> pd.DataFrame:
    old = _compared_scores(before, now)
    rows = []
    for kind, s in (now.scores or {}).items():
        prev = old.get(kind)
        score = Decimal(s.score)
        ok = {
            name: prev is not None and prev.qualified >= getattr(checks, name).min_qualified
            for name in ("qualified_change", "score_change")
        }
        rows.append(
            {
                "subject": kind,
                "qualified": s.qualified,
                "previous_qualified": prev.qualified if prev else None,
                "qualified_change": change(s.qualified, prev.qualified)
                if prev and ok["qualified_change"] else None,
                "score": score,
                "previous_score": Decimal(prev.score) if prev else None,
                "score_change": change(score, Decimal(prev.score))
                if prev and ok["score_change"] else None,
            }
        )  # fmt: skip
    return _frame(rows, ["subject", "qualified", "previous_qualified", "qualified_change",
                         "score", "previous_score", "score_change"])  # fmt: skip


def province_frame(now: NightMetrics, province: str) -> pd.DataFrame:
    foreign, total = Decimal(now.foreign_cny), Decimal(now.total_cny)
    row = {
        "subject": province,
        "foreign_cny": foreign,
        "total_cny": total,
        "foreign_share": share(foreign, total),
    }
    return _frame([row], ["subject", "foreign_cny", "total_cny", "foreign_share"])


def layout_frame(metrics: list[LayoutMetric]) -> pd.DataFrame:
    """One row per file, field and layout check, its count in the check's own column (so
    that each check's expectation sees only its rows) and an example of what broke it."""
    rows = [
        {
            "subject": f"{m.file} {m.column}",
            m.check: m.violations,
            "layout_rows": m.rows,
            "example": m.example or None,
        }
        for m in metrics
    ]
    return _frame(rows, ["subject", *LAYOUT_CHECKS, "layout_rows", "example"])


# The change columns of the metric tables, by the check that bands them.
CHANGE_COLUMNS = {
    "records_change": "records_change",
    "rate_change": "fx_change",
    "qualified_change": "qualified_change",
    "score_change": "score_change",
}


def not_compared(
    now: NightMetrics, before: Previous | None, province: str, checks: Checks
) -> list[str]:
    """The comparisons with the previous published date that the night skips, and why:
    listed with the verdict, never a failure (a first night has nothing to compare with)."""
    if before is None:
        return [
            f"no previous published date of {province}: records_change, fx_change,"
            " qualified_change and score_change not compared (first night)"
        ]
    notes = []
    if not before.same_mode:
        notes.append(
            f"records_change not compared: the previous published date {before.day}"
            " was loaded in the other mode (full files against change files)"
        )
    if now.scores is None or before.metrics.scores is None:
        which = "this night" if now.scores is None else f"the previous date {before.day}"
        notes.append(
            f"qualified_change and score_change not compared: no province totals for {which}"
        )
    elif before.metrics.scores_of != now.scores_of:
        notes.append(
            f"qualified_change and score_change not compared: the previous date {before.day}"
            f" summed the scores of {before.metrics.scores_of} customers"
        )
    else:
        for name in ("qualified_change", "score_change"):
            minimum = getattr(checks, name).min_qualified
            few = {
                kind: s.qualified
                for kind, s in before.metrics.scores.items()
                if kind in now.scores and s.qualified < minimum
            }
            notes.extend(
                f"{name} {kind} not compared: {n} qualified customers on {before.day}"
                f" (min_qualified {minimum})"
                for kind, n in sorted(few.items())
            )
    return notes


def changes(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, str]]:
    """{check: {subject: change}} of every comparison the night computed (for the step's
    result and an operator's `result.json`)."""
    out: dict[str, dict[str, str]] = {}
    for table in tables.values():
        for column, check in CHANGE_COLUMNS.items():
            if column in table.columns:
                for subject, value in zip(table["subject"], table[column], strict=True):
                    if value is not None:
                        out.setdefault(check, {})[str(subject)] = str(value)
    return out
