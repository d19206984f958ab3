"""`formula check` refuses what the run could not compute (issue 16, item 7), and the run
computes what it accepts: literals out of range, expressions nesting too deeply or too long,
YAML aliases and oversized files are one-line problems with their position; a 400-term sum,
which once ended the run with RecursionError, is checked and scored exactly."""

from __future__ import annotations

import math
import random
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from crm_pipeline.cli import main
from tests.transform.scoring.helpers import account, accounts_table, customers_table
from transform.scoring import check_formula_files

TEMPLATE = """name: limits
effective_date: 2020-01-01
defaults:
  parameters: {coef: COEF}
  account_filter: {status: {not: C}}
  aggregates:
    demand: {sum: balance_cny, where: {kind: DEMAND}}
    fund: {sum: balance_cny, where: {kind: FUND}}
  formulas: {P: FORMULA, C: demand}
  thresholds: {P: THRESHOLD, C: 5000000}
  export_filter: 0
provinces:
  ZJ: {}
"""


def _write(tmp_path: Path, formula: str, coef: str = "2", threshold: str = "500000") -> Path:
    path = tmp_path / "limits.yaml"
    text = TEMPLATE.replace("COEF", coef).replace("THRESHOLD", threshold)
    path.write_text(text.replace("FORMULA", formula), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    return [str(p) for p in check_formula_files([path])[1]]


@pytest.mark.parametrize(
    ("formula", "coef", "threshold", "fragment", "line"),
    [
        ("demand + 1e400 * fund", "2", "500000", "1e400 is out of range", 9),
        ("demand + 0.000000000001 * fund", "2", "500000", "is out of range", 9),
        (
            "demand + coef * fund",
            "1.0e+400",
            "500000",
            "parameter 'coef' 1.0E+400 is out of range",
            4,
        ),
        ("demand", "2", "1.0e+20", "is out of range", 10),
        ("demand + coef * fund", ".nan", "500000", "'.nan' is not a decimal number", 4),
        ("-(" * 70 + "demand" + ")" * 70, "2", "500000", "nests too deeply", 9),
        ("+".join(["demand"] * 5000), "2", "500000", "characters long; at most 20,000", 9),
        ("+".join(["d"] * 4000), "2", "500000", "too long or nests too deeply", 9),
    ],
)
def test_check_refuses_what_the_run_cannot_compute(
    tmp_path: Path, formula: str, coef: str, threshold: str, fragment: str, line: int
) -> None:
    path = _write(tmp_path, formula, coef, threshold)
    problems = _problems(path)
    assert problems and any(fragment in p for p in problems), problems
    assert all(p.startswith(f"{path}:") for p in problems)
    assert any(p.startswith(f"{path}:{line}:") for p in problems if fragment in p), problems


def test_yaml_aliases_are_refused_with_their_position(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text(
        TEMPLATE.replace("COEF", "2").replace("THRESHOLD", "500000").replace("FORMULA", "demand")
        .replace("  account_filter: {status: {not: C}}", "  account_filter: &f {status: {not: C}}")
        + "extra: [*f, *f, *f]\n",
        encoding="utf-8",
    )  # fmt: skip
    assert _problems(path) == [
        f"{path}:5:19: YAML anchors and aliases (&name, *name) are not allowed in a formula "
        "file: write each value out, or put shared values in defaults"
    ]


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = _write(tmp_path, "demand")
    path.write_text(path.read_text() + "#" * 1_000_001 + "\n", encoding="utf-8")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:1:1: the file is 1,000,") and "at most 1,000,000" in problem


def test_check_command_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "+".join(["d"] * 4000))
    assert main(["formula", "check", str(path)]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert f"{path}:9:" in out.out and "too long or nests too deeply" in out.out


def test_the_longest_admitted_sum_is_scored(tmp_path: Path) -> None:
    """A sum of 1,500 terms (just under the 20,000 characters): admitted by the check, so the
    scorer must compute it (its terms are walked, never recursed into)."""
    formula = " + ".join(["demand"] * 1500)
    assert len(formula) < 20_000
    formulas, problems = check_formula_files([_write(tmp_path, formula)])
    assert problems == []
    key = "P|01|330102199001010001"
    rows = [account(key, "RTL", "DEMAND", "CNY", "1.01")]
    scored = formulas.for_province("ZJ", date(2026, 11, 24)).score(
        accounts_table(rows), customers_table([key])
    )
    assert scored["score"].to_pylist() == [Decimal("1515.00")]


def test_a_400_term_sum_is_checked_and_scored_exactly(tmp_path: Path) -> None:
    """400 terms of `demand` (each term its own coefficient) plus a quotient: the score is
    the exact sum, rounded once half away from zero, computed here with Fractions."""
    rng = random.Random(400)
    coefficients = [Fraction(rng.randrange(1, 1000), 1000) for _ in range(400)]
    formula = " + ".join(f"{Decimal(c.numerator) / c.denominator} * demand" for c in coefficients)
    formula += " + fund / 7"
    path = _write(tmp_path, formula)
    formulas, problems = check_formula_files([path])
    assert problems == []
    keys = [f"P|01|33010219900101{n:04d}" for n in range(30)]
    rows = []
    for key in keys:
        rows.append(account(key, "RTL", "DEMAND", "CNY", f"{rng.randrange(0, 10**8) / 100:.2f}"))
        rows.append(account(key, "FND", "FUND", "CNY", f"{rng.randrange(0, 10**8) / 100:.2f}"))
    scored = formulas.for_province("ZJ", date(2026, 11, 24)).score(
        accounts_table(rows), customers_table(keys)
    )
    got = dict(zip(scored["cust_key"].to_pylist(), scored["score"].to_pylist(), strict=True))
    for key in keys:
        demand = Fraction(
            next(r["balance_cny"] for r in rows if r["cust_no"] == key and r["kind"] == "DEMAND")
        )
        fund = Fraction(
            next(r["balance_cny"] for r in rows if r["cust_no"] == key and r["kind"] == "FUND")
        )
        exact = sum(c * demand for c in coefficients) + fund / 7
        fen = math.floor(abs(exact) * 100 + Fraction(1, 2))  # half away from zero
        assert got[key] == Decimal(fen if exact >= 0 else -fen) / 100, key


def test_check_warns_about_negative_thresholds_filters_and_coefficients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Warnings, not problems: the file stays valid (exit 0), each warning has its place.
    A subtraction (`demand - fund`) is not a negative coefficient and is not warned about."""
    path = _write(tmp_path, "demand - fund + -1.5 * fund + fund * -2", coef="-3", threshold="-1")
    path.write_text(path.read_text().replace("export_filter: 0", "export_filter: -5"))
    assert main(["formula", "check", str(path)]) == 0
    warnings = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")
    ]
    assert warnings == [
        f"warning: {path}:4:22: parameter 'coef' in defaults is negative (-3)",
        f"warning: {path}:9:33: negative coefficient -1.5: the term lowers the score "
        "(write it as a subtraction if that is meant)",
        f"warning: {path}:9:54: negative coefficient -2: the term lowers the score "
        "(write it as a subtraction if that is meant)",
        f"warning: {path}:10:19: the threshold for P in defaults is negative (-1): every "
        "customer with a score of 0 or more qualifies",
        f"warning: {path}:11:18: export_filter in defaults is negative (-5): it keeps every account",
    ]
    assert main(["formula", "check"]) == 0  # the shipped formulas: no warning
    assert "warning:" not in capsys.readouterr().out
