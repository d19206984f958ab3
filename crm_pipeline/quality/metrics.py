"""A night's quality metrics: small aggregates of the staged files, computed with pyarrow.

The gate never hands millions of rows to Great Expectations (known to take minutes on tens
of millions): it reads a few narrow columns here (currencies, CNY balances, customer type,
score, qualified), reduces them to tens of numbers, and validates those. Amounts stay
exact: decimal sums in Arrow, Python Decimals after.

The metrics are stored with the gate's result in the warehouse (JSON), so that the next
night compares with these, not with a re-read of last night's files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.batch import FileCounts
from common.intermediate import read_schema, read_table
from common.staging import StagingArea, staged_name
from extract.landing import fx_file

CNY = "CNY"


@dataclass(frozen=True)
class FileMetric:
    key: str  # branch/system/entity: the same file on another date
    file: str
    read: int
    set_aside: int


@dataclass(frozen=True)
class RateMetric:
    currency: str
    cny_per_100: str | None  # exact decimal text; None: no rate for a currency in use
    rate_date: str | None  # YYYYMMDD


@dataclass(frozen=True)
class TypeScore:
    qualified: int
    score: str  # exact decimal text: the sum of the type's scores


@dataclass
class NightMetrics:
    """What the gate validates of one night and province (JSON-ready)."""

    files: list[FileMetric] = field(default_factory=list)
    rates: list[RateMetric] = field(default_factory=list)
    scores: dict[str, TypeScore] | None = None  # by cust_type; None: not computed
    # What `scores` sums: "qualified" (the qualified customers' scores, what the CRM gets);
    # "all" in results stored before daily nights were compared (every scored customer).
    scores_of: str = "qualified"
    foreign_cny: str = "0"  # sum of |balance_cny| of the non-CNY accounts
    total_cny: str = "0"  # sum of |balance_cny| of every account

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NightMetrics:
        scores = data.get("scores")
        return cls(
            files=[FileMetric(**f) for f in data.get("files", [])],
            rates=[RateMetric(**r) for r in data.get("rates", [])],
            scores={k: TypeScore(**v) for k, v in scores.items()} if scores is not None else None,
            scores_of=str(data.get("scores_of", "all")),
            foreign_cny=str(data.get("foreign_cny", "0")),
            total_cny=str(data.get("total_cny", "0")),
        )


def file_metrics(files: Sequence[FileCounts]) -> list[FileMetric]:
    """Records read and set aside per data file (the run's reconciled counts)."""
    return [
        FileMetric(f"{f.branch}/{f.system}/{f.entity}", f.file, int(f.read), int(f.set_aside))
        for f in files
    ]


def currencies_in(paths: Iterable[Path]) -> set[str]:
    """The currencies of the staged tables that have a `currency` column (one column read)."""
    used: set[str] = set()
    for path in paths:
        if "currency" in read_schema(path).names:
            column = read_table(path, ["currency"]).column("currency")
            used.update(str(c) for c in pc.unique(column).to_pylist() if c is not None)
    return used


def rate_metrics(
    area: StagingArea, landing: Path, business_date: str, used: set[str]
) -> list[RateMetric]:
    """The day's FX file as staged (every line kept, duplicates included), plus a row
    without a rate for each currency in use that the file lacks; CNY at 100, dated the
    day, when the file does not quote it (as transform.fx.rates_table does)."""
    staged = area.fx_dir(business_date) / staged_name(fx_file(landing, business_date).name)
    if not staged.is_file():  # staged by an earlier run on another machine (s3:// staging)
        area.store.download(staged)
    table = pq.read_table(staged, columns=["currency", "cny_per_100", "rate_date"])
    rows = []
    for currency, rate, day in zip(
        table.column("currency").to_pylist(),
        table.column("cny_per_100").to_pylist(),
        table.column("rate_date").to_pylist(),
        strict=True,
    ):
        text = day.strftime("%Y%m%d") if day is not None else None
        rows.append(RateMetric(currency, str(rate) if rate is not None else None, text))
    quoted = {r.currency for r in rows}
    if CNY not in quoted:
        rows.append(RateMetric(CNY, "100", business_date))
    rows.extend(RateMetric(c, None, None) for c in sorted(used - quoted - {CNY}))
    return rows


def score_totals(parts: Iterable[Path]) -> dict[str, TypeScore]:
    """Qualified customers and the sum of their scores per customer type, over the scored
    parts (a type without a qualified customer: 0 and 0)."""
    qualified: dict[str, int] = {}
    scores: dict[str, Decimal] = {}
    for path in parts:
        table = read_table(path, ["cust_type", "score", "qualified"])
        for kind in pc.unique(table.column("cust_type")).to_pylist():
            qualified.setdefault(kind, 0)
            scores.setdefault(kind, Decimal(0))
        table = table.filter(pc.fill_null(table.column("qualified"), False))
        grouped = table.group_by("cust_type").aggregate([([], "count_all"), ("score", "sum")])
        for kind, count, total in zip(
            grouped.column("cust_type").to_pylist(),
            grouped.column("count_all").to_pylist(),
            grouped.column("score_sum").to_pylist(),
            strict=True,
        ):
            qualified[kind] += int(count or 0)
            scores[kind] += total or Decimal(0)
    return {k: TypeScore(qualified[k], str(scores[k])) for k in sorted(qualified)}


def customer_ids(path: Path) -> list[tuple[str, str, str]]:
    """(cust_type, id_type, id_no) of every customer of a batch table (its merged keys)."""
    table = read_table(path, ["cust_type", "id_type", "id_no"])
    return list(
        zip(
            table.column("cust_type").to_pylist(),
            table.column("id_type").to_pylist(),
            table.column("id_no").to_pylist(),
            strict=True,
        )
    )


def currency_value(parts: Iterable[Path]) -> tuple[Decimal, Decimal]:
    """(foreign, total): sums of |balance_cny|, of the non-CNY accounts and of all."""
    foreign, total = Decimal(0), Decimal(0)
    for path in parts:
        table = read_table(path, ["currency", "balance_cny"])
        value = pc.abs(pc.fill_null(table.column("balance_cny"), 0))
        total += pc.sum(value).as_py() or Decimal(0)
        other = pc.not_equal(table.column("currency"), pa.scalar(CNY))
        foreign += pc.sum(pc.filter(value, other)).as_py() or Decimal(0)
    return foreign, total
