"""The formula language: guarded division, overrides, effective dates, filters, safety."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.transform.scoring.helpers import account, accounts_table, customers_table
from transform.scoring import check_formula_files, load_formulas

D = Decimal

HEAD = """\
name: lang
effective_date: 2026-01-01
fallback_province: ZJ
defaults:
  parameters: {coef: 2}
  account_filter: {status: {not: C}}
  thresholds: {P: 100, C: 1000}
  export_filter: 0
"""


def write(tmp_path: Path, body: str, name: str = "lang.yaml", head: str = HEAD) -> Path:
    path = tmp_path / name
    path.write_text(head + body)
    return path


def problems_of(tmp_path: Path, body: str) -> list[str]:
    _, problems = check_formula_files([write(tmp_path, body)])
    return [p.message for p in problems]


def loan_per_term(where: str, expression: str) -> str:
    return f"""\
  aggregates:
    per_term: {{sum: "{expression}", where: {where}}}
  formulas: {{P: per_term, C: per_term}}
"""


GUARDED = [
    ("{kind: LOAN, term_months: {gt: 0}}", "balance_cny / term_months"),
    ("{kind: LOAN, term_months: {ne: 0}}", "balance_cny / term_months"),
    ("{kind: LOAN, term_months: {ge: 1}}", "balance_cny / term_months"),
    ("{kind: LOAN, term_months: {not: 0}}", "balance_cny / term_months"),
    ("\"kind == 'LOAN' and term_months > 0\"", "balance_cny / term_months"),
    ("{kind: LOAN}", "balance_cny / term_months if term_months > 0 else 0"),
    ("{kind: LOAN}", "0 if term_months == 0 else balance_cny / term_months"),
    ("{kind: LOAN}", "safe_div(balance_cny, term_months)"),
    ("{kind: LOAN}", "balance_cny / 12"),
    ("{kind: LOAN}", "balance_cny / coef"),  # a parameter that is not zero
]
UNGUARDED = [
    ("{kind: LOAN}", "balance_cny / term_months"),
    ("{kind: LOAN, term_months: {ge: 0}}", "balance_cny / term_months"),
    ("\"kind == 'LOAN' or term_months > 0\"", "balance_cny / term_months"),
    ("{kind: LOAN}", "balance_cny / term_months if term_months >= 0 else 0"),
    ("{kind: LOAN}", "balance_cny / (term_months - 1)"),
    ("{kind: LOAN}", "balance_cny / 0"),
]


@pytest.mark.parametrize(("where", "expression"), GUARDED)
def test_guarded_division_is_accepted_and_exact(
    tmp_path: Path, where: str, expression: str
) -> None:
    assert problems_of(tmp_path, loan_per_term(where, expression)) == []
    key = "P|01|X"
    rows = [
        account(key, "LON", "LOAN", "CNY", "1200.00", term_months=36),
        account(key, "LON", "LOAN", "CNY", "500.00", term_months=0),
    ]
    scored = load_formulas(tmp_path).for_province("ZJ", date(2026, 1, 1))
    result = scored.score(accounts_table(rows), customers_table([key])).to_pylist()[0]
    if "12" in expression:
        expected = (D("1200") + D("500")) / 12
    elif "coef" in expression:
        expected = (D("1200") + D("500")) / 2
    else:
        expected = D("1200") / 36  # the zero-term loan counts 0
    assert result["score"] == expected.quantize(D("0.01"))


@pytest.mark.parametrize(("where", "expression"), UNGUARDED)
def test_unguarded_division_is_rejected(tmp_path: Path, where: str, expression: str) -> None:
    messages = problems_of(tmp_path, loan_per_term(where, expression))
    assert len(messages) == 1 and "which may be zero" in messages[0], messages


def test_division_between_aggregates(tmp_path: Path) -> None:
    body = """\
  aggregates:
    deposits: {sum: balance_cny, where: {kind: DEMAND}}
    loans: {sum: balance_cny, where: {kind: LOAN}}
  formulas:
    P: safe_div(deposits, loans)
    C: "deposits / loans * 100 if loans > 0 else 0"
"""
    assert problems_of(tmp_path, body) == []
    p, c, none = "P|01|A", "C|21|B", "P|01|NOLOAN"
    rows = [
        account(p, "RTL", "DEMAND", "CNY", "100.00"),
        account(p, "LON", "LOAN", "CNY", "300.00"),
        account(c, "RTL", "DEMAND", "CNY", "100.00"),
        account(c, "LON", "LOAN", "CNY", "300.00"),
        account(none, "RTL", "DEMAND", "CNY", "100.00"),
    ]
    scored = load_formulas(tmp_path).for_province("ZJ", date(2026, 1, 1))
    got = {
        r["cust_key"]: r["score"]
        for r in scored.score(accounts_table(rows), customers_table([p, c, none])).to_pylist()
    }
    assert got == {p: D("0.33"), c: D("33.33"), none: D("0.00")}


def test_province_overrides(tmp_path: Path) -> None:
    body = """\
  aggregates:
    deposits: {sum: balance_cny, where: {kind: DEMAND}}
    funds: {sum: balance_cny, where: {kind: FUND}}
  formulas: {P: deposits + coef * funds, C: deposits}
provinces:
  ZJ: {}
  GD:
    parameters: {coef: 1.5}
  SD:
    aggregates:
      deposits: {sum: balance_cny, where: {kind: [DEMAND, TIME]}}
    thresholds: {P: 250}
  BJ:
    formulas: {P: deposits}
    export_filter: 70000
"""
    write(tmp_path, body)
    key = "P|01|X"
    rows = [
        account(key, "RTL", "DEMAND", "CNY", "100.00"),
        account(key, "RTL", "TIME", "CNY", "50.00", term_months=12),
        account(key, "FND", "FUND", "CNY", "10.00"),
    ]
    formulas = load_formulas(tmp_path)
    day = date(2026, 6, 1)

    def score(province: str) -> Decimal:
        scored = formulas.for_province(province, day)
        return scored.score(accounts_table(rows), customers_table([key])).to_pylist()[0]["score"]

    assert score("ZJ") == D("120.00")  # 100 + 2 x 10
    assert score("GD") == D("115.00")  # 100 + 1.5 x 10
    assert score("SD") == D("170.00")  # (100 + 50) + 2 x 10
    assert score("BJ") == D("100.00")
    assert score("XX") == D("120.00")  # no entry: ZJ's
    assert formulas.for_province("SD", day).thresholds == {"P": D(250), "C": D(1000)}
    assert formulas.for_province("BJ", day).export_filter == D(70000)
    ids = {p: formulas.for_province(p, day).formula_ids["P"] for p in ("ZJ", "GD", "SD", "BJ")}
    assert len({i.split("@")[1] for i in ids.values()}) == 4  # each a different content
    # C did not change in GD (coef is not used there), but the id names the entry.
    assert ids["GD"].startswith("lang-GD-P@")


def test_effective_dates_pick_the_formula_in_force(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
  aggregates:
    deposits: {sum: balance_cny, where: {kind: DEMAND}}
  formulas: {P: deposits, C: deposits}
""",
    )
    write(
        tmp_path,
        """\
provinces:
  GD:
    thresholds: {P: 90}
""",
        name="gd-2027.yaml",
        head="name: gd2027\neffective_date: 2027-01-01\n",
    )
    formulas = load_formulas(tmp_path)
    assert formulas.for_province("GD", date(2026, 12, 31)).thresholds["P"] == D(100)
    assert formulas.for_province("GD", date(2027, 1, 1)).thresholds["P"] == D(90)
    assert formulas.for_province("ZJ", date(2027, 1, 1)).thresholds["P"] == D(100)


def test_filters_on_currency_status_product_and_scope(tmp_path: Path) -> None:
    body = """\
  aggregates:
    fx_funds: {sum: balance_cny, where: {kind: FUND, currency: {not: CNY}, product: [F1, F2]}}
    frozen: {sum: balance_cny, where: "status == 'F'"}
  formulas: {P: fx_funds, C: frozen}
"""
    assert problems_of(tmp_path, body) == []
    p, c = "P|01|A", "C|21|B"
    rows = [
        account(p, "FND", "FUND", "USD", "100.00", fund_code="F1"),  # 712.34
        account(p, "FND", "FUND", "USD", "100.00", fund_code="F3"),  # other product
        account(p, "FND", "FUND", "CNY", "100.00", fund_code="F2"),  # CNY
        account(p, "FND", "FUND", "HKD", "100.00", fund_code="F2", status="C"),  # closed
        account(c, "RTL", "DEMAND", "CNY", "10.00", status="F"),
        account(c, "RTL", "DEMAND", "CNY", "20.00", status="F", in_scope=False),
    ]
    scored = load_formulas(tmp_path).for_province("ZJ", date(2026, 1, 1))
    got = {
        r["cust_key"]: r["score"]
        for r in scored.score(accounts_table(rows), customers_table([p, c])).to_pylist()
    }
    assert got == {p: D("712.34"), c: D("10.00")}


def test_numbers_are_exact_decimals(tmp_path: Path) -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in binary floats; 1.005 rounds to 1.01 exactly.
    body = """\
  aggregates:
    deposits: {sum: balance_cny, where: {kind: DEMAND}}
  formulas: {P: "deposits * 0.1 + deposits * 0.2 + 0.005", C: deposits}
"""
    write(tmp_path, body)
    key = "P|01|A"
    scored = load_formulas(tmp_path).for_province("ZJ", date(2026, 1, 1))
    rows = [account(key, "RTL", "DEMAND", "CNY", "1.00")]
    assert scored.score(accounts_table(rows), customers_table([key])).to_pylist()[0]["score"] == D(
        "0.31"
    )


def test_nothing_outside_the_whitelist_runs(tmp_path: Path) -> None:
    for expression in (
        "__import__('os').system('touch /tmp/pwned')",
        "(lambda: 1)()",
        "[x for x in deposits]",
        "deposits.__class__",
        "deposits ** 2",
        "open('x')",
        "f'{deposits}'",
    ):
        body = f"""\
  aggregates:
    deposits: {{sum: balance_cny}}
  formulas: {{P: "{expression}", C: deposits}}
"""
        messages = problems_of(tmp_path, body)
        assert messages, expression
