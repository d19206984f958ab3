"""Why a customer scored what it did: its accounts, aggregates and formula terms, exactly.

`crm-pipeline explain` answers "why is this customer (not) in the CRM?" for a handful of
customers at a time. Everything here is read off the scorer's own computation
(`ProvinceFormulas.score`, `aggregate_parts`, `evaluator`, `terms.term_values`): the
score shown is the scorer's, and the terms are checked to add up to the exact value it
rounded, so an explanation can never disagree with the night's score.

Per-customer values are turned into Python `Fraction`s (exact): the tables explained are
a few customers and their accounts, not a province.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError
from transform.scoring.expression import names, render
from transform.scoring.scorer import ProvinceFormulas
from transform.scoring.terms import formula_text, formula_value, fraction_at, term_values

__all__ = ["AccountUse", "Breakdown", "breakdown", "fen"]


@dataclass
class AccountUse:
    """One account of the customer: the aggregates it fed, with its exact value in each,
    or why it fed none."""

    row: int  # the account's row in the accounts explained
    aggregates: list[tuple[str, Fraction]] = field(default_factory=list)
    left_out: str | None = None


@dataclass
class Breakdown:
    """One customer's score, from its accounts to the threshold."""

    cust_key: str
    cust_type: str
    formula_id: str
    formula: str  # the customer type's formula, as the sum of its terms
    threshold: Decimal
    aggregates: dict[str, Fraction]  # the aggregates its formula reads, per customer
    terms: list[tuple[str, Fraction]]  # signed, in formula order; they add up to `exact`
    exact: Fraction  # the formula's value before rounding
    score: Decimal  # the scorer's score (rounded once, half away from zero)
    qualified: bool
    accounts: list[AccountUse]


def fen(value: Fraction) -> Decimal:
    """`value` rounded to the fen, half away from zero: the rule the scorer implements
    with exact integer division, here to check that the terms and the score agree."""
    whole, rest = divmod(abs(value) * 100, 1)
    cents = int(whole) + (1 if rest * 2 >= 1 else 0)
    return Decimal(-cents if value < 0 else cents).scaleb(-2)


def _left_out(
    formulas: ProvinceFormulas, accounts: pa.Table, index: pa.Array | pa.ChunkedArray
) -> list[str | None]:
    """Per account, why no aggregate may count it (None: it may)."""
    scope, base = formulas.account_scope(accounts, index)
    counted = np.asarray(pc.fill_null(base, False).to_numpy(zero_copy_only=False), bool)
    in_scope = (
        np.asarray(pc.fill_null(accounts.column("in_scope"), False).to_numpy(), bool)
        if "in_scope" in accounts.column_names
        else np.ones(accounts.num_rows, bool)
    )
    account_filter = formulas.resolved.account_filter
    reasons: list[str | None] = []
    for row in range(accounts.num_rows):
        if counted[row]:
            reasons.append(None)
        elif not in_scope[row]:
            reasons.append("under the province's export filter (not in scope)")
        elif index[row].as_py() is None:
            reasons.append("its customer is not among those explained")
        else:
            text = render(account_filter) if account_filter is not None else "?"
            reasons.append(f"left out by the account filter {text}")
    return reasons


def breakdown(
    formulas: ProvinceFormulas, accounts: pa.Table, customers: pa.Table
) -> list[Breakdown]:
    """One Breakdown per row of `customers` (MERGED_CUSTOMER), from `accounts` keyed to
    them (`cust_key`, `cust_type`, the state's columns)."""
    scores = formulas.score(accounts, customers)
    count = customers.num_rows
    evaluator = formulas.evaluator(accounts, customers)
    index = pc.index_in(accounts.column("cust_key"), value_set=customers.column("cust_key"))
    owner = index.fill_null(-1).to_numpy(zero_copy_only=False)
    reasons = _left_out(formulas, accounts, index)
    uses = [AccountUse(row, left_out=reasons[row]) for row in range(accounts.num_rows)]
    for part in formulas.aggregate_parts(accounts, customers):
        rows = np.flatnonzero(pc.fill_null(part.selected, False).to_numpy(zero_copy_only=False))
        for j, row in enumerate(rows.tolist()):
            uses[row].aggregates.append((part.name, fraction_at(part.values, j, len(rows))))
    result = []
    for i in range(count):
        cust_type = customers.column("cust_type")[i].as_py()
        formula = formulas.resolved.formulas[cust_type]
        used = {n.name for n in names(formula)}
        terms = [
            (term.name, fraction_at(value, i, count))
            for term, value in term_values(evaluator, formula)
        ]
        exact = fraction_at(formula_value(evaluator, formula), i, count)
        score = scores.column("score")[i].as_py()
        if sum((v for _, v in terms), Fraction(0)) != exact or fen(exact) != score:
            raise PipelineError(  # the scorer and its terms disagree: a bug, never data
                f"customer {customers.column('cust_key')[i]}: terms add up to"
                f" {sum(v for _, v in terms)}, the scorer's value {exact} scored {score}"
            )
        mine = [u for u in uses if owner[u.row] == i]
        for use in mine:
            use.aggregates = [(n, v) for n, v in use.aggregates if n in used]
        result.append(
            Breakdown(
                cust_key=customers.column("cust_key")[i].as_py(),
                cust_type=cust_type,
                formula_id=scores.column("formula_id")[i].as_py(),
                formula=formula_text(formula),
                threshold=formulas.thresholds[cust_type],
                aggregates={
                    n: fraction_at(evaluator.env[n], i, count)
                    for n in sorted(used)
                    if n in formulas.resolved.aggregates
                },
                terms=terms,
                exact=exact,
                score=score,
                qualified=bool(scores.column("qualified")[i].as_py()),
                accounts=mine,
            )
        )
    return result
