"""The runner's interface: a validated set of formula files, and one province's scorer.

`load_formulas(directory)` reads and checks every file once (every problem listed, with
file, line and column); `FormulaSet.for_province(p, d)` layers the formulas in force;
`ProvinceFormulas.score(accounts, customers)` computes CUSTOMER_SCORE with vectorized
Arrow operations: one pass per aggregate over the accounts it selects, one group-by sum
per aggregate, then the customer formulas over customer-aligned columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import ConfigError, PipelineError
from common.schema import CUSTOMER_SCORE, MONEY
from transform.scoring import expr
from transform.scoring.evaluate import ROUND, Evaluator, group_sum, to_decimal
from transform.scoring.formulas import (
    FormulaFile,
    Resolved,
    check_files,
    read_file,
    resolve,
)
from transform.scoring.source import Pos, Problem

# Customers scored at once (see ProvinceFormulas.score): about 1 GiB of temporaries at most.
SCORE_CHUNK_CUSTOMERS = 500_000


def _configured_provinces() -> list[str]:
    """The provinces of config/provinces.yaml, when it can be read (checks cover them)."""
    try:
        from common.config import provinces

        return list(provinces().provinces)
    except Exception:  # noqa: BLE001 - the formula check must not fail on another file
        return []


@dataclass
class ProvinceFormulas:
    """One province's formulas in force on a business date, ready to score."""

    province: str
    business_date: date
    export_filter: Decimal
    thresholds: dict[str, Decimal]
    formula_ids: dict[str, str]
    resolved: Resolved

    def _aggregates_needed(self) -> list[str]:
        needed: set[str] = set()
        for formula in self.resolved.formulas.values():
            needed |= {n.name for n in expr.names(formula) if n.name in self.resolved.aggregates}
        return sorted(needed)

    def aggregate_columns(self, accounts: pa.Table, customers: pa.Table) -> dict[str, pa.Array]:
        """Each aggregate the formulas use, summed per customer, aligned with `customers`."""
        resolved = self.resolved
        params = resolved.parameters
        count = customers.num_rows
        index = pc.index_in(accounts.column("cust_key"), value_set=customers.column("cust_key"))
        scope = Evaluator(
            {**{c: accounts.column(c) for c in accounts.column_names}, **params}, accounts.num_rows
        )
        base = scope.mask(resolved.account_filter)
        if "in_scope" in accounts.column_names:
            in_scope = pc.fill_null(accounts.column("in_scope"), False)
            base = in_scope if isinstance(base, bool) and base else pc.and_(in_scope, base)
        known = pc.is_valid(index)
        base = known if isinstance(base, bool) and base else pc.and_(known, base)
        if isinstance(base, bool):  # an always-false account filter
            base = pa.repeat(pa.scalar(base), accounts.num_rows)
        columns: dict[str, pa.Array] = {}
        for name in self._aggregates_needed():
            aggregate = resolved.aggregates[name]
            mask = scope.mask(aggregate.where)
            selected = base if isinstance(mask, bool) and mask else pc.and_(base, mask)
            if isinstance(selected, bool):
                selected = pa.repeat(pa.scalar(selected), accounts.num_rows)
            wanted = sorted(
                {n.name for n in expr.names(aggregate.value) if n.name in accounts.column_names}
            )
            subset = accounts.select(wanted).append_column("__i", index).filter(selected)
            local = Evaluator({**{c: subset.column(c) for c in wanted}, **params}, subset.num_rows)
            values = local.column(aggregate.value)
            columns[name] = group_sum(subset.column("__i"), values, count)
        return columns

    def _account_columns(self, accounts: pa.Table) -> list[str]:
        """The account columns scoring reads: filters, aggregates, scope, customer key."""
        resolved = self.resolved
        nodes = [resolved.account_filter] if resolved.account_filter is not None else []
        for name in self._aggregates_needed():
            aggregate = resolved.aggregates[name]
            nodes += [aggregate.value] + ([aggregate.where] if aggregate.where else [])
        wanted = {n.name for node in nodes for n in expr.names(node)} | {"cust_key", "in_scope"}
        return [c for c in accounts.column_names if c in wanted]

    def score(self, accounts: pa.Table, customers: pa.Table) -> pa.Table:
        """CUSTOMER_SCORE for every customer of `customers` (0.00 without accounts).

        Customers are scored SCORE_CHUNK_CUSTOMERS at a time, each chunk with exactly its
        customers' accounts (the accounts are ordered by customer once), so the
        customer-aligned decimal columns and the formulas' temporaries are bounded by the
        chunk, not the province. A customer's accounts are never split between chunks, so
        each sum is the same as over the whole table.
        """
        types = set(pc.unique(customers.column("cust_type")).to_pylist())
        missing = sorted(t for t in types if t not in self.resolved.formulas)
        if missing:
            raise ConfigError(
                [f"province {self.province}: no formula for customer type {t}" for t in missing]
            )
        count = customers.num_rows
        if count <= SCORE_CHUNK_CUSTOMERS:
            return self._score(accounts, customers, types)
        accounts = accounts.select(self._account_columns(accounts))
        index = pc.index_in(accounts.column("cust_key"), value_set=customers.column("cust_key"))
        owner = index.fill_null(-1).to_numpy(zero_copy_only=False)
        order = np.argsort(owner, kind="stable")
        starts = np.r_[np.arange(0, count, SCORE_CHUNK_CUSTOMERS), count]
        # unknown customers (-1) sort first and fall before the first bound
        bounds: npt.NDArray[np.intp] = np.asarray(np.searchsorted(owner[order], starts))
        parts = []
        for k, low in enumerate(range(0, count, SCORE_CHUNK_CUSTOMERS)):
            size = min(SCORE_CHUNK_CUSTOMERS, count - low)
            rows = order[bounds[k] : bounds[k + 1]]
            chunk = customers.slice(low, size)
            parts.append(self._score(accounts.take(pa.array(rows)), chunk, types))
        return pa.concat_tables(parts)

    def _score(self, accounts: pa.Table, customers: pa.Table, types: set[str]) -> pa.Table:
        count = customers.num_rows
        env = {**self.aggregate_columns(accounts, customers), **self.resolved.parameters}
        evaluator = Evaluator(env, count)
        cust_type = customers.column("cust_type")
        score = pa.nulls(count, MONEY)
        qualified = pa.nulls(count, pa.bool_())
        formula_id = pa.nulls(count, pa.string())
        for t in sorted(types):
            value = evaluator.column(self.resolved.formulas[t])
            rounded = pc.round(to_decimal(value), ndigits=2, round_mode=ROUND)
            try:
                money = rounded.cast(MONEY)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise PipelineError(
                    f"province {self.province}: a {t} score does not fit {MONEY}: {exc}"
                ) from exc
            is_type = pc.equal(cust_type, t)
            score = pc.if_else(is_type, money, score)
            threshold = pa.scalar(self.thresholds[t], MONEY)
            qualified = pc.if_else(is_type, pc.greater_equal(money, threshold), qualified)
            formula_id = pc.if_else(is_type, pa.scalar(self.formula_ids[t]), formula_id)
        return pa.Table.from_arrays(
            [customers.column("cust_key"), score, qualified, formula_id], schema=CUSTOMER_SCORE
        )


@dataclass
class FormulaSet:
    """Every formula file of a directory, validated together."""

    files: list[FormulaFile]

    def for_province(self, province: str, business_date: date) -> ProvinceFormulas:
        """The province's formulas in force on `business_date` (ConfigError if incomplete)."""
        resolved, problems = resolve(self.files, province, business_date)
        if problems or resolved is None:
            raise ConfigError(_unique(problems))
        assert resolved.export_filter is not None
        return ProvinceFormulas(
            province=province,
            business_date=business_date,
            export_filter=resolved.export_filter,
            thresholds=dict(resolved.thresholds),
            formula_ids={t: resolved.formula_id(t) for t in resolved.formulas},
            resolved=resolved,
        )

    def provinces(self) -> list[str]:
        """Provinces named in the files, and the configured ones."""
        named = {p for f in self.files for p in f.provinces}
        return sorted(named | set(_configured_provinces()))

    def effective_dates(self) -> list[date]:
        return sorted({f.effective_date for f in self.files})


def _unique(problems: Iterable[Problem]) -> list[str]:
    seen: dict[str, None] = {}
    for problem in problems:
        seen.setdefault(str(problem), None)
    return list(seen)


def formula_paths(paths: Iterable[Path]) -> list[Path]:
    """The formula files under `paths` (a directory means its *.yaml / *.yml files)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            found.append(path)
    return found


def check_formula_files(
    files: list[Path], texts: dict[Path, str] | None = None
) -> tuple[FormulaSet, list[Problem]]:
    """Read and check formula files together; every problem, each with its position."""
    problems: list[Problem] = []
    read: list[FormulaFile] = []
    for path in files:
        formula_file, found = read_file(path, (texts or {}).get(path))
        problems += found
        if formula_file is not None:
            read.append(formula_file)
    if not files:
        problems.append(Problem(Pos("(no file)", 1, 1), "no formula files given"))
    problems += check_files(read)
    formula_set = FormulaSet(read)
    duplicated = any(p.message.startswith("duplicate definition of") for p in problems)
    # Layered together unless definitions clash; then each file on its own, so that its
    # own mistakes are still all reported (but not what only the layering could supply).
    groups = [[f] for f in read] if duplicated else [read] if read else []
    for group in groups:
        dates = sorted({f.effective_date for f in group})
        for province in formula_set.provinces():
            for when in dates:
                resolved, found = resolve(group, province, when)
                if duplicated:
                    found = [p for p in found if not _PROVINCE_PROBLEM.match(p.message)]
                if resolved is not None or when == dates[-1]:
                    problems += found
    return formula_set, [Problem(p.pos, p.message) for p in _dedupe(problems)]


_PROVINCE_PROBLEM = re.compile(r"^province (\S+) (has no .*)$")


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """Each problem once; "province X has no ..." at one place merged into one line."""
    seen: dict[str, Problem] = {}
    provinces: dict[tuple[Pos, str], list[str]] = {}
    for problem in problems:
        match = _PROVINCE_PROBLEM.match(problem.message)
        if match:
            names = provinces.setdefault((problem.pos, match.group(2)), [])
            if match.group(1) not in names:
                names.append(match.group(1))
            continue
        seen.setdefault(str(problem), problem)
    for (pos, rest), names in provinces.items():
        label = "province" if len(names) == 1 else "provinces"
        verb_rest = rest if len(names) == 1 else "have" + rest[len("has") :]
        merged = Problem(pos, f"{label} {', '.join(sorted(names))} {verb_rest}")
        seen.setdefault(str(merged), merged)
    return sorted(seen.values(), key=lambda p: (p.pos.file, p.pos.line, p.pos.col, p.message))


def load_formulas(directory: Path) -> FormulaSet:
    """Every formula file of `directory`, validated; ConfigError lists every problem."""
    paths = formula_paths([Path(directory)])
    if not Path(directory).is_dir():
        raise ConfigError([f"{directory}: formula directory not found"])
    formula_set, problems = check_formula_files(paths)
    if problems:
        raise ConfigError([str(p) for p in problems])
    return formula_set
