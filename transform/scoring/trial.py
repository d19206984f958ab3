"""Trial calculation: a candidate formula against the one in force, on staged data.

Pure functions over Arrow tables (the command line reads the staged Parquet and writes
the report): score every customer of a province with both formula sets, and describe
the difference the way an analyst decides on it: how many qualify, how the scores are
spread (quantiles, histogram) and exactly which customers would enter or leave the CRM,
with their scores under both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from transform.export_filter import under_export_filter
from transform.scoring.scorer import ProvinceFormulas

QUANTILES = (
    Decimal("0"),
    Decimal("0.25"),
    Decimal("0.5"),
    Decimal("0.75"),
    Decimal("0.9"),
    Decimal("0.99"),
    Decimal("1"),
)


@dataclass
class Change:
    """A customer whose qualification differs between the formulas."""

    cust_key: str
    cust_type: str
    current_score: Decimal
    candidate_score: Decimal


@dataclass
class Histogram:
    """Counts of scores per bin; `edges[i] <= score < edges[i + 1]`, open ends first/last."""

    cust_type: str
    threshold: Decimal  # the candidate's
    edges: list[Decimal]
    counts: list[int]  # len(edges) + 1: below edges[0], each bin, at or above edges[-1]
    threshold_now: Decimal | None = None  # the one in force, when the candidate changes it

    def bin_of(self, value: Decimal) -> int:
        """The index in `counts` of the bin holding `value` (equal widths from edges[0])."""
        if value < self.edges[0]:
            return 0
        if value >= self.edges[-1]:
            return len(self.counts) - 1
        width = self.edges[1] - self.edges[0]
        return 1 + int((value - self.edges[0]) // width)


@dataclass
class ProvinceTrial:
    """One province's trial outcome."""

    province: str
    customers: int
    accounts: int
    customers_by_type: dict[str, int]
    current_qualified: dict[str, int]
    candidate_qualified: dict[str, int]
    current_ids: dict[str, str]
    candidate_ids: dict[str, str]
    quantiles: dict[str, list[tuple[Decimal, Decimal]]]  # cust_type -> (q, score)
    histograms: list[Histogram]
    entering: list[Change]
    leaving: list[Change]
    notes: list[str] = field(default_factory=list)


def exact_quantiles(scores: pa.Array | pa.ChunkedArray) -> list[tuple[Decimal, Decimal]]:
    """Nearest-rank quantiles, read off the sorted decimals (no float interpolation)."""
    count = len(scores)
    if count == 0:
        return []
    ordered = pc.take(scores, pc.sort_indices(scores))
    result = []
    for q in QUANTILES:
        rank = int((q * (count - 1)).to_integral_value())
        result.append((q, ordered[rank].as_py()))
    return result


def histogram(
    scores: pa.Array | pa.ChunkedArray,
    cust_type: str,
    threshold: Decimal,
    bins: int = 10,
    threshold_now: Decimal | None = None,
) -> Histogram:
    """Equal bins from 0 to twice the threshold: the mass around the threshold is visible."""
    width = (threshold * 2 / bins) if threshold > 0 else Decimal(1)
    edges = [width * i for i in range(bins + 1)]
    shown = threshold_now if threshold_now is not None and threshold_now != threshold else None
    h = Histogram(cust_type, threshold, edges, [0] * (len(edges) + 1), shown)
    for value in scores.to_pylist():
        if value is not None:
            h.counts[h.bin_of(value)] += 1
    return h


def _rescope(
    accounts: pa.Table, current: ProvinceFormulas, candidate: ProvinceFormulas
) -> tuple[pa.Table, list[str]]:
    """Re-apply a tighter RTL export filter; a looser one cannot bring back filtered rows."""
    if candidate.export_filter == current.export_filter or "in_scope" not in accounts.column_names:
        return accounts, []
    if candidate.export_filter < current.export_filter:
        return accounts, [
            f"the candidate's export filter ({candidate.export_filter}) is lower than the one in force "
            f"({current.export_filter}): RTL accounts filtered out at load time are not in the staged "
            "data, so the trial cannot count them"
        ]
    keep = pc.invert(under_export_filter(accounts, candidate.export_filter))
    in_scope = pc.and_(pc.fill_null(accounts.column("in_scope"), False), keep)
    index = accounts.column_names.index("in_scope")
    return accounts.set_column(index, "in_scope", in_scope), [
        f"RTL accounts under the candidate's export filter ({candidate.export_filter}) left out"
    ]


def run_trial(
    province: str,
    accounts: pa.Table,
    customers: pa.Table,
    current: ProvinceFormulas,
    candidate: ProvinceFormulas,
) -> ProvinceTrial:
    """Score with both formula sets and compare, customer by customer."""
    now = current.score(accounts, customers)
    trial_accounts, notes = _rescope(accounts, current, candidate)
    then = candidate.score(trial_accounts, customers)
    types = customers.column("cust_type")
    by_type: dict[str, tuple[int, int]] = {}
    customers_by_type: dict[str, int] = {}
    quantiles = {}
    histograms = []
    for cust_type in sorted(set(pc.unique(types).to_pylist())):
        is_type = pc.equal(types, cust_type)
        customers_by_type[cust_type] = pc.sum(is_type).as_py() or 0
        by_type[cust_type] = (
            pc.sum(pc.filter(now.column("qualified"), is_type)).as_py() or 0,
            pc.sum(pc.filter(then.column("qualified"), is_type)).as_py() or 0,
        )
        scores = pc.filter(then.column("score"), is_type)
        quantiles[cust_type] = exact_quantiles(scores)
        histograms.append(
            histogram(
                scores,
                cust_type,
                candidate.thresholds[cust_type],
                threshold_now=current.thresholds.get(cust_type),
            )
        )
    entering_mask = pc.and_(then.column("qualified"), pc.invert(now.column("qualified")))
    leaving_mask = pc.and_(now.column("qualified"), pc.invert(then.column("qualified")))

    def changes(mask: pa.ChunkedArray) -> list[Change]:
        rows = pa.table(
            {
                "cust_key": pc.filter(customers.column("cust_key"), mask),
                "cust_type": pc.filter(types, mask),
                "now": pc.filter(now.column("score"), mask),
                "then": pc.filter(then.column("score"), mask),
            }
        ).sort_by([("then", "descending"), ("cust_key", "ascending")])
        return [
            Change(r["cust_key"], r["cust_type"], r["now"], r["then"]) for r in rows.to_pylist()
        ]

    return ProvinceTrial(
        province=province,
        customers=customers.num_rows,
        accounts=accounts.num_rows,
        customers_by_type=customers_by_type,
        current_qualified={t: v[0] for t, v in by_type.items()},
        candidate_qualified={t: v[1] for t, v in by_type.items()},
        current_ids=dict(current.formula_ids),
        candidate_ids=dict(candidate.formula_ids),
        quantiles=quantiles,
        histograms=histograms,
        entering=changes(entering_mask),
        leaving=changes(leaving_mask),
        notes=notes,
    )
