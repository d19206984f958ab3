"""Scoring: the provinces' YAML formulas, checked, and compiled to Arrow operations.

The runner needs only `load_formulas(directory)`, `FormulaSet.for_province(p, date)` and
`ProvinceFormulas.score(accounts, customers)`; the formula language is in
docs/formulas.md.
"""

from __future__ import annotations

from transform.scoring.compiled import (
    FormulaSet,
    ProvinceFormulas,
    check_formula_files,
    formula_paths,
    load_formulas,
)
from transform.scoring.source import Pos, Problem

__all__ = [
    "FormulaSet",
    "Pos",
    "Problem",
    "ProvinceFormulas",
    "check_formula_files",
    "formula_paths",
    "load_formulas",
]
