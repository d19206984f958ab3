"""A formula's terms, and the breakdown `crm-pipeline explain` reads: each term's exact
value, the accounts each aggregate counted, against exact Fractions computed without the
evaluator (`fraction_oracle`), on the property test's random accounts and coefficients."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests import oracle
from tests.transform.scoring import fraction_oracle
from tests.transform.scoring.helpers import accounts_table, customers_table
from tests.transform.scoring.test_exact import (
    DAY,
    PROPERTY_FORMULAS,
    _coefficients,
    _random_customer,
)
from transform.scoring import load_formulas
from transform.scoring.breakdown import breakdown, fen
from transform.scoring.terms import formula_terms, formula_text

SIGNS = """
name: signs
effective_date: 2020-01-01
defaults:
  aggregates:
    a: {sum: balance_cny, where: {kind: DEMAND}}
    b: {sum: balance_cny, where: {kind: FUND}}
    c: {sum: overdraft_cny, where: {kind: CARD}}
  formulas:
    P: a - (b + c) + 2 * (a - b) - -c
    C: a
  thresholds: {P: 1, C: 1}
  export_filter: 0
provinces:
  ZJ: {}
"""


def _formulas(tmp_path: Path, text: str) -> Any:
    folder = tmp_path / "formulas"
    folder.mkdir()
    (folder / "f.yaml").write_text(text, encoding="utf-8")
    return load_formulas(folder).for_province("ZJ", DAY)


def test_terms_are_the_signed_operands_of_the_outer_sum(tmp_path: Path) -> None:
    formula = _formulas(tmp_path, SIGNS).resolved.formulas["P"]
    names = [t.name for t in formula_terms(formula)]
    # A parenthesized sum is opened (its terms take the sign before it); a product is one
    # term; subtracting a negation is a negative term whose own text keeps its minus.
    assert names == ["a", "-b", "-c", "2 * (a - b)", "--c"]
    assert formula_text(formula) == "a - b - c + 2 * (a - b) - -c"


@pytest.mark.parametrize("seed", range(6))
def test_terms_add_up_to_the_score_and_match_exact_fractions(seed: int, tmp_path: Path) -> None:
    rng = random.Random(1000 + seed)
    formulas = _formulas(tmp_path, PROPERTY_FORMULAS if seed == 0 else _coefficients(rng))
    resolved = formulas.resolved
    keys = [f"{'C' if n % 7 == 6 else 'P'}|01|{seed:03d}{n:05d}" for n in range(60)]
    rows = [row for n, key in enumerate(keys) for row in _random_customer(rng, key, n % 3 == 0)]
    accounts = accounts_table(rows)
    found = breakdown(formulas, accounts, customers_table(keys))
    assert [b.cust_key for b in found] == keys
    for b in found:
        mine = [r for r in rows if r["cust_key"] == b.cust_key]
        totals = fraction_oracle.totals(resolved, mine)
        expected = fraction_oracle.score(resolved, b.cust_type, mine)
        terms = formula_terms(resolved.formulas[b.cust_type])
        assert [name for name, _ in b.terms] == [t.name for t in terms]
        assert [value for _, value in b.terms] == [
            Fraction(fraction_oracle.evaluate(t.node, totals)) for t in terms
        ]
        assert sum(value for _, value in b.terms) == b.exact == expected
        assert b.score == oracle.round_fen(expected) == fen(expected)
        assert b.qualified == (b.score >= b.threshold)
        # Each account's contributions, summed over the customer's accounts, are the
        # aggregates; an account counted by nothing says why.
        assert sorted(u.row for u in b.accounts) == [
            i for i, r in enumerate(rows) if r["cust_key"] == b.cust_key
        ]
        for name, total in b.aggregates.items():
            assert (
                sum((v for u in b.accounts for n, v in u.aggregates if n == name), Fraction(0))
                == total
            )
            assert total == totals[name]
        for use in b.accounts:
            row = rows[use.row]
            if not row.get("in_scope", True):
                assert use.aggregates == [] and "export filter" in (use.left_out or "")
            elif row["status"] == "C":
                assert use.aggregates == [] and "account filter" in (use.left_out or "")


def test_fen_rounds_half_away_from_zero() -> None:
    assert fen(Fraction("2092159.275")) == oracle.round_fen(Fraction("2092159.275"))
    assert str(fen(Fraction("-0.005"))) == "-0.01"
    assert str(fen(Fraction(1, 3))) == "0.33"
    assert str(fen(Fraction(2, 3))) == "0.67"
