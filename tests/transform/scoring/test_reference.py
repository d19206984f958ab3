"""The shipped reference formulas reproduce hand-computed scores to the fen.

Expected values are written out term by term with Python Decimals (50 digits, then one
rounding half away from zero at the end), following ../shared/spec/reference-formulas.md,
not the YAML: the test checks the YAML says what the spec says.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pyarrow as pa
import pytest

from common.paths import PROJECT_ROOT
from common.schema import CUSTOMER_SCORE
from tests.transform.scoring.helpers import account, accounts_table, cny, customers_table
from transform.scoring import FormulaSet, load_formulas

D = Decimal
DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def formulas() -> FormulaSet:
    return load_formulas(PROJECT_ROOT / "scoring_formulas")


def fen(value: Decimal) -> Decimal:
    """Round to the fen, half away from zero (Decimal's ROUND_HALF_UP is away from zero)."""
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def rich_accounts(key: str) -> list[dict]:
    """One account of every kind the formulas name, plus the ones that must not count."""
    return [
        account(key, "RTL", "DEMAND", "CNY", "100000.00"),
        account(key, "RTL", "DEMAND", "CNY", "1000.00", status="F"),  # frozen: counts
        account(key, "RTL", "DEMAND", "CNY", "999999.00", status="C"),  # closed: left out
        account(key, "RTL", "DEMAND", "CNY", "40000.00", in_scope=False),  # export filter
        account(key, "RTL", "DEMAND", "USD", "1000.00"),
        account(key, "RTL", "TIME", "CNY", "200000.00", term_months=36),
        account(key, "RTL", "TIME", "CNY", "10000.00", term_months=7),
        account(key, "RTL", "TIME", "EUR", "5000.00", term_months=12),
        account(key, "CRD", "CARD", "CNY", "3000.00", overdraft="500.00"),
        account(key, "CRD", "CARD", "HKD", "1000.00", overdraft="200.00"),
        account(
            key,
            "LON",
            "LOAN",
            "CNY",
            "120000.00",
            term_months=36,
            overdue_balance="1000.00",
            overdue_periods=2,
        ),
        account(
            key,
            "LON",
            "LOAN",
            "USD",
            "10000.00",
            term_months=0,
            overdue_balance="100.00",
            overdue_periods=1,
        ),
        account(key, "FND", "FUND", "CNY", "10000.00", fund_code="F001"),
        account(key, "FND", "FUND", "USD", "100.00", fund_code="F002"),
    ]


def rich_terms() -> dict[str, Decimal]:
    """The aggregates of `rich_accounts`, by hand."""
    return {
        "demand_cny": D("100000.00") + D("1000.00"),
        "demand_fx": D("1000.00") * D("712.34") / 100,  # 7123.40
        "time_cny": D("200000.00") + D("10000.00"),
        "time_fx": D("5000.00") * D("780.12") / 100,  # 39006.00
        "time_cny_term": D("200000.00") * 36 / 12 + D("10000.00") * 7 / 12,
        "time_fx_term": D("5000.00") * D("780.12") / 100 * 12 / 12,
        "card_deposit_cny": D("3000.00"),
        "card_deposit_fx": D("1000.00") * D("91.23") / 100,  # 912.30
        "card_overdraft": D("500.00") + D("200.00") * D("91.23") / 100,  # 682.46
        "loan_per_term": D("120000.00") / 36,  # the zero-term loan is left out
        "loan_overdue_weighted": D("1000.00") * 2 + D("100.00") * D("712.34") / 100 * 1,
        "fund_value": D("10000.00") + D("100.00") * D("712.34") / 100,
    }


def personal(t: dict[str, Decimal], fund_coef: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 50
        return fen(
            t["demand_cny"]
            + D("1.5") * t["demand_fx"]
            + t["time_cny"]
            + t["time_cny_term"] / D("1.5")
            + t["time_fx_term"] / D("1.2")
            + D("1.1") * t["card_deposit_cny"]
            + D("1.3") * t["card_deposit_fx"]
            - t["card_overdraft"]
            + D("1.2") * t["loan_per_term"]
            + t["loan_overdue_weighted"]
            + fund_coef * t["fund_value"]
        )


def corporate(t: dict[str, Decimal]) -> Decimal:
    return fen(
        t["demand_cny"]
        + t["demand_fx"]
        + t["time_cny"]
        + t["time_fx"]
        + t["card_deposit_cny"]
        + t["card_deposit_fx"]
        - t["card_overdraft"]
        + t["fund_value"]
    )


def scores(table: pa.Table) -> dict[str, tuple[Decimal, bool, str]]:
    assert table.schema == CUSTOMER_SCORE
    return {
        row["cust_key"]: (row["score"], row["qualified"], row["formula_id"])
        for row in table.to_pylist()
    }


def test_hand_computed_terms_are_what_they_claim() -> None:
    with localcontext() as ctx:
        ctx.prec = 50
        t = rich_terms()
    assert t["demand_fx"] == D("7123.40")
    assert t["card_overdraft"] == D("682.46")
    assert t["fund_value"] == D("10712.34")
    # 600000 + 5833.33...; 120000 / 36 = 3333.33...
    assert fen(t["time_cny_term"]) == D("605833.33")
    assert fen(t["loan_per_term"]) == D("3333.33")


def test_personal_and_corporate_zj(formulas: FormulaSet) -> None:
    p, c = "P|01|330100199001011234", "C|21|91330000MA00000001"
    accounts = accounts_table(rich_accounts(p) + rich_accounts(c))
    province = formulas.for_province("ZJ", DAY)
    got = scores(province.score(accounts, customers_table([p, c])))
    with localcontext() as ctx:
        ctx.prec = 50
        expected_p = personal(rich_terms(), D(2))
        expected_c = corporate(rich_terms())
    # Written out once more as figures, so a change in either side shows:
    # 101000 + 10685.10 + 210000 + 403888.888.. + 32505 + 3300 + 1185.99 - 682.46
    # + 4000 + 2712.34 + 21424.68 = 790019.54
    assert expected_p == D("790019.54")
    assert expected_c == D("371071.58")  # plain sums, no coefficients
    assert got[p][:2] == (expected_p, True)
    assert got[c][:2] == (expected_c, False)  # under 5,000,000
    assert got[p][2] == province.formula_ids["P"]
    assert got[c][2] == province.formula_ids["C"]
    assert got[p][2].startswith("reference-ZJ-P@") and len(got[p][2].split("@")[1]) == 12


def test_gd_fund_coef_and_threshold(formulas: FormulaSet) -> None:
    p = "P|01|440100199001011234"
    province = formulas.for_province("GD", DAY)
    got = scores(province.score(accounts_table(rich_accounts(p)), customers_table([p])))
    with localcontext() as ctx:
        ctx.prec = 50
        expected = personal(rich_terms(), D("1.5"))
    assert expected == D("784663.37")  # 790019.54 - 0.5 x 10712.34
    assert got[p][:2] == (expected, False)  # GD personal threshold is 800,000
    assert province.thresholds == {"P": D(800000), "C": D(8000000)}
    assert province.export_filter == D(100000)


def test_thresholds_on_the_fen(formulas: FormulaSet) -> None:
    exact, rounded_up, under = "P|01|EXACT", "P|01|ROUNDED", "P|01|UNDER"
    c_exact, c_under = "C|21|EXACT", "C|21|UNDER"
    negative, nothing = "P|01|NEGATIVE", "P|01|NOACCOUNT"
    rows = [
        account(exact, "RTL", "DEMAND", "CNY", "500000.00"),
        # 1.1 x 454545.45 = 499999.995 -> 500000.00 (half away from zero): qualifies.
        account(rounded_up, "CRD", "CARD", "CNY", "454545.45"),
        account(under, "RTL", "DEMAND", "CNY", "499999.99"),
        account(c_exact, "RTL", "DEMAND", "CNY", "5000000.00"),
        account(c_under, "RTL", "DEMAND", "CNY", "4999999.99"),
        # 1.1 x 0.05 - 0.11 = -0.055 -> -0.06 (away from zero).
        account(negative, "CRD", "CARD", "CNY", "0.05", overdraft="0.11"),
    ]
    keys = [exact, rounded_up, under, c_exact, c_under, negative, nothing]
    got = scores(
        formulas.for_province("ZJ", DAY).score(accounts_table(rows), customers_table(keys))
    )
    assert got[exact][:2] == (D("500000.00"), True)
    assert got[rounded_up][:2] == (fen(D("1.1") * D("454545.45")), True)
    assert fen(D("1.1") * D("454545.45")) == D("500000.00")
    assert got[under][:2] == (D("499999.99"), False)
    assert got[c_exact][:2] == (D("5000000.00"), True)
    assert got[c_under][:2] == (D("4999999.99"), False)
    assert got[negative][:2] == (D("-0.06"), False)
    assert got[nothing][:2] == (D("0.00"), False)
    assert list(got) == keys  # one row per customer, in the customers' order


def test_unknown_province_uses_zj(formulas: FormulaSet) -> None:
    zj = formulas.for_province("ZJ", DAY)
    other = formulas.for_province("HN", DAY)
    assert other.thresholds == zj.thresholds
    assert other.export_filter == zj.export_filter == D(50000)
    assert other.formula_ids == zj.formula_ids


@pytest.mark.parametrize(
    ("province", "personal_threshold", "corporate_threshold", "export_filter"),
    [
        ("ZJ", 500000, 5000000, 50000),
        ("JS", 500000, 5000000, 50000),
        ("GD", 800000, 8000000, 100000),
        ("SD", 300000, 3000000, 30000),
        ("BJ", 1000000, 10000000, 50000),
    ],
)
def test_reference_table(
    formulas: FormulaSet,
    province: str,
    personal_threshold: int,
    corporate_threshold: int,
    export_filter: int,
) -> None:
    chosen = formulas.for_province(province, DAY)
    assert chosen.thresholds == {"P": D(personal_threshold), "C": D(corporate_threshold)}
    assert chosen.export_filter == D(export_filter)


def test_cny_helper() -> None:
    assert cny("1000.00", "USD") == D("7123.4")


def test_shipped_files_validate_against_the_json_schema() -> None:
    import json

    import jsonschema
    import yaml

    schema = json.loads((PROJECT_ROOT / "scoring_formulas" / "formula.schema.json").read_text())
    for path in sorted(Path(PROJECT_ROOT / "scoring_formulas").glob("*.yaml")):
        # YAML reads the effective date as a date; JSON (what editors check) sees text.
        data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
        jsonschema.validate(data, schema)
