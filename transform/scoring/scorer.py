"""One province's formulas in force, scoring its customers with vectorized Arrow operations.

`ProvinceFormulas.score(accounts, customers)` computes CUSTOMER_SCORE: one pass per
aggregate over the accounts it selects, one group-by sum per aggregate, then the
customer formulas over customer-aligned columns; a score is rounded to the fen once, at
the end, and a customer qualifies at or above its type's threshold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import ConfigError, PipelineError
from common.schema import CUSTOMER_SCORE, MONEY
from transform.scoring.evaluate import Evaluator
from transform.scoring.expression import names
from transform.scoring.formula_model import Resolved
from transform.scoring.ratio import Ratio, group_sum, round_fen
from transform.scoring.terms import formula_value

# Customers scored at once (see ProvinceFormulas.score): about 1 GiB of temporaries at most.
SCORE_CHUNK_CUSTOMERS = 500_000


@dataclass(frozen=True)
class AggregatePart:
    """What one aggregate counts: which accounts (`selected`, aligned with the accounts),
    the customer row of each counted one (`owner`) and its exact value (`values`)."""

    name: str
    selected: pa.Array | pa.ChunkedArray
    owner: pa.Array | pa.ChunkedArray
    values: Ratio


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
            needed |= {n.name for n in names(formula) if n.name in self.resolved.aggregates}
        return sorted(needed)

    def account_scope(
        self, accounts: pa.Table, index: pa.Array | pa.ChunkedArray
    ) -> tuple[Evaluator, pa.Array | pa.ChunkedArray]:
        """The evaluator over `accounts` and the mask of those any aggregate may count: in
        scope (the export filter), passing the account filter, and of a known customer
        (`index`: each account's customer row, null for none)."""
        resolved = self.resolved
        scope = Evaluator(
            {**{c: accounts.column(c) for c in accounts.column_names}, **resolved.parameters},
            accounts.num_rows,
        )
        base = scope.mask(resolved.account_filter)
        if "in_scope" in accounts.column_names:
            in_scope = pc.fill_null(accounts.column("in_scope"), False)
            base = in_scope if isinstance(base, bool) and base else pc.and_(in_scope, base)
        known = pc.is_valid(index)
        base = known if isinstance(base, bool) and base else pc.and_(known, base)
        if isinstance(base, bool):  # an always-false account filter
            base = pa.repeat(pa.scalar(base), accounts.num_rows)
        return scope, base

    def aggregate_parts(self, accounts: pa.Table, customers: pa.Table) -> Iterator[AggregatePart]:
        """Each aggregate the formulas use: the accounts it counts and their exact values,
        one aggregate at a time (so only one aggregate's temporaries are alive)."""
        resolved = self.resolved
        params = resolved.parameters
        index = pc.index_in(accounts.column("cust_key"), value_set=customers.column("cust_key"))
        scope, base = self.account_scope(accounts, index)
        for name in self._aggregates_needed():
            aggregate = resolved.aggregates[name]
            mask = scope.mask(aggregate.where)
            selected = base if isinstance(mask, bool) and mask else pc.and_(base, mask)
            if isinstance(selected, bool):
                selected = pa.repeat(pa.scalar(selected), accounts.num_rows)
            wanted = sorted(
                {n.name for n in names(aggregate.value) if n.name in accounts.column_names}
            )
            subset = accounts.select(wanted).append_column("__i", index).filter(selected)
            local = Evaluator({**{c: subset.column(c) for c in wanted}, **params}, subset.num_rows)
            yield AggregatePart(name, selected, subset.column("__i"), local.column(aggregate.value))

    def aggregate_columns(self, accounts: pa.Table, customers: pa.Table) -> dict[str, Ratio]:
        """Each aggregate the formulas use, summed per customer, aligned with `customers`."""
        count = customers.num_rows
        return {
            part.name: group_sum(part.owner, part.values, count)
            for part in self.aggregate_parts(accounts, customers)
        }

    def evaluator(self, accounts: pa.Table, customers: pa.Table) -> Evaluator:
        """The evaluator of the customer formulas: aggregates and parameters per customer."""
        env = {**self.aggregate_columns(accounts, customers), **self.resolved.parameters}
        return Evaluator(env, customers.num_rows)

    def account_columns(self, available: Sequence[str]) -> list[str]:
        """Those of the `available` account columns scoring reads: filters, aggregates,
        scope, customer key."""
        resolved = self.resolved
        nodes = [resolved.account_filter] if resolved.account_filter is not None else []
        for name in self._aggregates_needed():
            aggregate = resolved.aggregates[name]
            nodes += [aggregate.value] + ([aggregate.where] if aggregate.where else [])
        wanted = {n.name for node in nodes for n in names(node)} | {"cust_key", "in_scope"}
        return [c for c in available if c in wanted]

    def _account_columns(self, accounts: pa.Table) -> list[str]:
        return self.account_columns(accounts.column_names)

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
        evaluator = self.evaluator(accounts, customers)
        cust_type = customers.column("cust_type")
        score = pa.nulls(count, MONEY)
        qualified = pa.nulls(count, pa.bool_())
        formula_id = pa.nulls(count, pa.string())
        for t in sorted(types):
            value = formula_value(evaluator, self.resolved.formulas[t])
            rounded = round_fen(value, count)
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
