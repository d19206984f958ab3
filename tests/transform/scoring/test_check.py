"""Every `formula check` message, one bad file per message (tests/transform/scoring/cases/).

Each case names the line and column the analyst must look at, and a fragment of the
plain-language message. A case file holds exactly one mistake; the test also checks
that no second, derived complaint is piled on top of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from crm_pipeline.cli import main
from transform.scoring import check_formula_files, formula_paths, load_formulas

CASES = Path(__file__).parent / "cases"

# file, line, column, message fragment
BAD_FILES = [
    ("yaml_syntax.yaml", 8, 3, "YAML syntax error"),
    ("unknown_field.yaml", 9, 3, "unknown field 'threshold' in defaults"),
    ("unknown_name.yaml", 8, 28, "unknown name 'depostis' in a formula"),
    ("unknown_account_field.yaml", 7, 21, "unknown name 'balanse_cny' in an account expression"),
    ("unknown_filter_field.yaml", 7, 42, "unknown account field 'knd'"),
    ("unknown_filter_operator.yaml", 7, 56, "unknown filter operator 'above'"),
    ("unknown_function.yaml", 8, 17, "unknown function 'sqrt'"),
    ("unknown_customer_type.yaml", 9, 33, "unknown customer type 'X'"),
    (
        "wrong_type_threshold.yaml",
        9,
        19,
        "threshold for P must be a number, not the text 'half a million'",
    ),
    ("wrong_type_text_in_arithmetic.yaml", 7, 21, "must be a number, but currency is a string"),
    ("wrong_type_filter_value.yaml", 7, 52, "cannot compare a string with a number"),
    ("wrong_type_export_filter.yaml", 10, 18, "export_filter must be a number, not a list"),
    ("unguarded_division.yaml", 7, 21, "division by term_months, which may be zero"),
    ("unguarded_division_aggregate.yaml", 9, 17, "division by loans, which may be zero"),
    ("missing_customer_type.yaml", 4, 1, "have no formula for customer type C"),
    ("missing_province.yaml", 1, 1, "BJ, GD, JS, SD have no formula in force on 2026-01-01"),
    ("missing_effective_date.yaml", 1, 1, "missing field 'effective_date'"),
    ("duplicate_definition.yaml", 8, 5, "duplicate definition of 'deposits' (first at line 7)"),
    ("expression_syntax.yaml", 8, 28, "syntax error in the expression"),
    ("attribute_access.yaml", 7, 21, "attribute access (a.b) is not allowed"),
    ("subscript.yaml", 8, 18, "a subscript (a[b]) is not allowed"),
    ("import_attempt.yaml", 7, 22, "only the functions safe_div, min, max, abs can be called"),
]


@pytest.mark.parametrize(("name", "line", "col", "fragment"), BAD_FILES)
def test_each_bad_file_has_its_message(name: str, line: int, col: int, fragment: str) -> None:
    path = CASES / name
    _, problems = check_formula_files([path])
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert fragment in problem.message
    assert (problem.pos.file, problem.pos.line, problem.pos.col) == (str(path), line, col)


def test_every_case_file_is_covered() -> None:
    covered = {name for name, *_ in BAD_FILES}
    assert {p.name for p in CASES.glob("*.yaml")} == covered


def test_duplicate_definitions_across_files() -> None:
    files = formula_paths([CASES / "duplicate_files"])
    _, problems = check_formula_files(files)
    messages = [str(p) for p in problems]
    assert any("duplicate definition of defaults in force from 2026-01-01" in m for m in messages)
    assert all(m.startswith(str(CASES / "duplicate_files" / "b.yaml")) for m in messages)


def test_load_formulas_lists_every_problem(tmp_path: Path) -> None:
    for name in ("unknown_name.yaml", "unguarded_division.yaml"):
        (tmp_path / name).write_text(
            (CASES / name).read_text().replace("name: case", f"name: {name[:5]}")
        )
    with pytest.raises(ConfigError) as caught:
        load_formulas(tmp_path)
    text = "\n".join(caught.value.problems)
    assert "unknown name 'depostis'" in text
    assert "division by term_months" in text
    assert "duplicate definition of defaults" in text  # both files define defaults


def test_check_command_exit_status_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formula", "check", str(CASES / "unguarded_division.yaml")]) == 1
    out = capsys.readouterr()
    assert f"{CASES / 'unguarded_division.yaml'}:7:21: division by term_months" in out.out
    assert main(["formula", "check"]) == 0  # the shipped formulas
    assert "ok" in capsys.readouterr().out


def test_multi_line_expression_positions(tmp_path: Path) -> None:
    text = (
        (CASES / "unknown_name.yaml")
        .read_text()
        .replace(
            "  formulas: {P: deposits + depostis, C: deposits}",
            "  formulas:\n    P: >-\n      deposits\n      + 2 * deposits\n      + depostis\n    C: deposits",
        )
    )
    path = tmp_path / "multi.yaml"
    path.write_text(text)
    _, problems = check_formula_files([path])
    assert [(p.pos.line, p.pos.col) for p in problems] == [(12, 9)]
