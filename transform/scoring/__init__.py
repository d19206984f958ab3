"""Scoring: the provinces' YAML formulas, checked, and compiled to Arrow operations.

The runner needs only `load_formulas(directory)`, `FormulaSet.for_province(p, date)` and
`ProvinceFormulas.score(accounts, customers)`; the formula language is in
docs/formulas.md. Inside, one module per job: `yaml_positions` (YAML with positions),
`expression*` (the tree, its parser and its checker), `formula_*`, `account_filters`,
`field_reader` and `layering` (files, checks, what is in force), `decimal_ops` and
`ratio` and `evaluate` (exact arithmetic over Arrow), `scorer`, and `trial`/`report`/
`report_svg` (a trial and its HTML page; the trial and acceptance history is in the
warehouse, load.formula_history).
"""

from __future__ import annotations

from transform.scoring.formula_set import (
    FormulaSet,
    check_formula_files,
    formula_paths,
    load_formulas,
)
from transform.scoring.scorer import ProvinceFormulas
from transform.scoring.yaml_positions import Pos, Problem

__all__ = [
    "FormulaSet",
    "Pos",
    "Problem",
    "ProvinceFormulas",
    "check_formula_files",
    "formula_paths",
    "load_formulas",
]
