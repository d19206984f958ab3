"""Scores are the exact value of the formula, rounded once to the fen, half away from zero.

Issue 18: a division cut to a fixed number of decimals before the final rounding put
about one score in 1,300 a fen low. Each test here compares with exact rationals computed
without the evaluator: the issue's worked example by hand, random accounts and
coefficients against `fraction_oracle` (ties at .xx5 built on purpose), and the
reference formulas against the spec's own reading in `tests/oracle.py`.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from common.paths import PROJECT_ROOT
from tests import oracle
from tests.transform.scoring import fraction_oracle
from tests.transform.scoring.helpers import RATES, account, accounts_table, customers_table
from transform.scoring import FormulaSet, load_formulas

D = Decimal
DAY = date(2026, 11, 24)

# Every kind of exact-division hazard: per-account quotients by a column (several loan
# terms per customer: different denominators in one sum), by constants, coefficients
# with decimals, a quotient by an aggregate, a condition, min/max and abs.
PROPERTY_FORMULAS = """
name: property
effective_date: 2020-01-01
defaults:
  parameters: {fund_coef: 2, loan_coef: 1.2, term_coef: 0.7, cap: 3.3}
  account_filter: {status: {not: C}}
  aggregates:
    demand: {sum: balance_cny, where: {kind: DEMAND}}
    time_term: {sum: balance_cny * term_months / 12, where: {kind: TIME}}
    loan_per_term: {sum: balance_cny / term_months, where: {kind: LOAN, term_months: {gt: 0}}}
    overdrawn: {sum: overdraft_cny, where: {kind: CARD}}
    fund: {sum: balance_cny, where: {kind: FUND}}
    cards: {sum: balance_cny / 3, where: {kind: CARD}}
  formulas:
    P: >-
      demand + loan_coef * loan_per_term + fund_coef * fund
      + time_term / 1.5 + term_coef * time_term / 7
      + min(cards, cap * demand / 9) - abs(overdrawn) / 11
      + safe_div(fund, demand + loan_per_term) * 13
      + (demand / 6 if loan_per_term > demand / 7 else 0)
    C: demand + fund + cards - overdrawn
  thresholds: {P: 500000, C: 5000000}
  export_filter: 0
provinces:
  ZJ: {}
"""


@pytest.fixture(scope="module")
def reference() -> FormulaSet:
    return load_formulas(PROJECT_ROOT / "scoring_formulas")


def _scores(formulas: FormulaSet, rows: list[dict[str, Any]], keys: list[str]) -> dict:
    province = formulas.for_province("ZJ", DAY)
    scored = province.score(accounts_table(rows), customers_table(keys))
    return dict(zip(scored["cust_key"].to_pylist(), scored["score"].to_pylist(), strict=True))


def test_the_worked_example_of_issue_18_rounds_up(reference: FormulaSet) -> None:
    """496,028.12 + 1.2 x 56,237.50 / 24 + 2 x 796,659.64 = 2,092,159.275 exactly -> .28."""
    key = "P|01|110101199001011234"
    rows = [
        account(key, "RTL", "DEMAND", "CNY", "370724.77"),
        account(key, "RTL", "DEMAND", "CNY", "125303.35"),
        account(key, "LON", "LOAN", "CNY", "56237.50", term_months=24),
        account(key, "FND", "FUND", "CNY", "796659.64"),
    ]
    exact = D("496028.12") + D("1.2") * D("56237.50") / 24 + 2 * D("796659.64")
    assert exact == D("2092159.275")
    assert _scores(reference, rows, [key]) == {key: D("2092159.28")}


def _random_amount(rng: random.Random, top: int) -> str:
    return f"{rng.randrange(0, top * 100) / 100:.2f}"


def _tie_loan(rng: random.Random) -> tuple[str, int]:
    """A loan balance and term with 1.2 x balance / term exactly at x.xx5 (a fen tie)."""
    while True:
        cents, term = rng.randrange(100, 10_000_000), rng.randrange(1, 361)
        value = Fraction(6, 5) * Fraction(cents, 100) / term
        if (value * 200).denominator == 1 and (value * 200).numerator % 2 == 1:
            return f"{cents / 100:.2f}", term


def _random_customer(rng: random.Random, key: str, tie: bool) -> list[dict[str, Any]]:
    if tie:  # only 2-decimal terms besides the tied quotient: the total is a tie too
        balance, term = _tie_loan(rng)
        return [
            account(key, "RTL", "DEMAND", "CNY", _random_amount(rng, 900_000)),
            account(key, "LON", "LOAN", "CNY", balance, term_months=term),
            account(key, "FND", "FUND", "CNY", _random_amount(rng, 900_000)),
        ]
    rows = []
    for _ in range(rng.randrange(0, 9)):
        kind = rng.choice(["DEMAND", "TIME", "CARD", "LOAN", "FUND"])
        source = {"DEMAND": "RTL", "TIME": "RTL", "CARD": "CRD", "LOAN": "LON", "FUND": "FND"}
        rows.append(
            account(
                key,
                source[kind],
                kind,
                rng.choice(list(RATES)),
                _random_amount(rng, rng.choice([100, 10_000, 5_000_000])),
                status=rng.choice(["N", "N", "N", "F", "C"]),
                term_months=rng.choice([0, 1, 3, 6, 7, 12, 24, 36, 60, 119, 360]),
                overdraft=_random_amount(rng, 5_000) if kind == "CARD" else "0.00",
                overdue_balance=_random_amount(rng, 5_000) if kind == "LOAN" else "0.00",
                overdue_periods=rng.randrange(0, 4) if kind == "LOAN" else 0,
                in_scope=rng.random() > 0.1,
            )
        )
    return rows


def _coefficients(rng: random.Random) -> str:
    """The property formulas with random coefficients (up to four decimals)."""
    text = PROPERTY_FORMULAS
    for name, old in (("fund_coef", "2"), ("loan_coef", "1.2"), ("term_coef", "0.7")):
        new = f"{rng.randrange(1, 40_000) / 10_000:.4f}".rstrip("0").rstrip(".")
        text = text.replace(f"{name}: {old},", f"{name}: {new},")
    return text


@pytest.mark.parametrize("seed", range(12))
def test_random_accounts_and_coefficients_match_exact_fractions(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    folder = tmp_path / "formulas"
    folder.mkdir()
    (folder / "property.yaml").write_text(
        PROPERTY_FORMULAS if seed == 0 else _coefficients(rng), encoding="utf-8"
    )
    formulas = load_formulas(folder)
    resolved = formulas.for_province("ZJ", DAY).resolved
    keys, rows, ties = [], [], 0
    for n in range(150):
        cust_type = "C" if n % 10 == 9 else "P"
        key = f"{cust_type}|01|{seed:03d}{n:05d}"
        tie = cust_type == "P" and n % 3 == 0
        ties += tie
        keys.append(key)
        rows += _random_customer(rng, key, tie)
    got = _scores(formulas, rows, keys)
    by_key: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    for row in rows:
        by_key[row["cust_key"]].append(row)
    expected = {k: oracle.round_fen(fraction_oracle.score(resolved, k[0], by_key[k])) for k in keys}
    assert got == expected
    assert ties >= 40


def test_ties_are_ties_before_rounding(reference: FormulaSet) -> None:
    """The constructed tie customers are at x.xx5 exactly and round away from zero."""
    rng = random.Random(99)
    keys = [f"P|01|tie{n:04d}" for n in range(200)]
    rows = [row for key in keys for row in _random_customer(rng, key, tie=True)]
    resolved = reference.for_province("ZJ", DAY).resolved
    got = _scores(reference, rows, keys)
    for key in keys:
        exact = fraction_oracle.score(resolved, "P", [r for r in rows if r["cust_key"] == key])
        assert (exact * 200).denominator == 1 and (exact * 200).numerator % 2 == 1
        assert got[key] == oracle.round_fen(exact)
        assert Fraction(got[key]) > exact


def _oracle_account(row: dict[str, Any]) -> oracle.Account:
    return oracle.Account(
        source=row["source"], branch="ZJ", file="test", line=1, acct_no=row["acct_no"],
        cust_no=row["cust_no"], kind=row["kind"], currency=row["currency"],
        balance=row["balance"], balance_cny=row["balance_cny"], status=row["status"],
        term_months=row["term_months"], overdraft=row["overdraft"],
        overdue_balance=row["overdue_balance"], overdue_periods=row["overdue_periods"],
        rate=RATES[row["currency"]],
    )  # fmt: skip


@pytest.mark.parametrize("province", ["ZJ", "GD", "SD"])
def test_reference_formulas_match_the_spec_oracle(reference: FormulaSet, province: str) -> None:
    """Random accounts through reference.yaml against tests/oracle.py's reading of the spec."""
    rng = random.Random(province)
    keys = [f"{'C' if n % 7 == 0 else 'P'}|01|ref{n:05d}" for n in range(300)]
    rows = [
        row
        for n, key in enumerate(keys)
        for row in _random_customer(rng, key, tie=key[0] == "P" and n % 4 == 1)
        if row["in_scope"]
    ]
    scored = reference.for_province(province, DAY).score(
        accounts_table(rows), customers_table(keys)
    )
    got = dict(zip(scored["cust_key"].to_pylist(), scored["score"].to_pylist(), strict=True))
    for key in keys:
        customer = oracle.MergedCustomer(
            cust_type=key[0], id_type="01", id_no=key, members=[], master=None,  # type: ignore[arg-type]
            accounts=[_oracle_account(r) for r in rows if r["cust_key"] == key],
        )  # fmt: skip
        assert got[key] == oracle.round_fen(oracle.score(customer, province)), key
