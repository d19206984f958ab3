"""The checks of layered formulas and of a set of files, each problem with its position.

`check_resolved` types every expression of one province's layered formulas in the scope
it runs in (account expressions see account fields and parameters; formulas see
aggregates and parameters) and asks for every customer type's formula and threshold;
`check_files` finds two files defining one scope on one effective date.
"""

from __future__ import annotations

from datetime import date

from transform.scoring.expression import BOOL, NUMBER
from transform.scoring.expression_check import Scope, check, nonzero_when
from transform.scoring.formula_model import ACCOUNT_FIELDS, CUST_TYPES, FormulaFile, Resolved
from transform.scoring.yaml_positions import Pos, Problem


def check_resolved(resolved: Resolved) -> list[Problem]:
    """Types, names, guards and completeness of one province's layered formulas."""
    problems: list[Problem] = []
    params = resolved.parameters
    account_scope = Scope(
        types={**ACCOUNT_FIELDS, **{p: NUMBER for p in params}},
        what={**{f: "field" for f in ACCOUNT_FIELDS}, **{p: "parameter" for p in params}},
        params=params,
        where="an account expression (account fields and parameters)",
    )
    facts: set[str] = set()
    if resolved.account_filter is not None:
        problems += check(resolved.account_filter, account_scope, BOOL, "the account filter")
        facts = nonzero_when(resolved.account_filter, True)
    for aggregate in resolved.aggregates.values():
        local = set(facts)
        if aggregate.where is not None:
            problems += check(
                aggregate.where, account_scope, BOOL, f"the filter of {aggregate.name}"
            )
            local |= nonzero_when(aggregate.where, True)
        problems += check(
            aggregate.value, account_scope, NUMBER, f"the sum of {aggregate.name}", local
        )
    customer_scope = Scope(
        types={**{a: NUMBER for a in resolved.aggregates}, **{p: NUMBER for p in params}},
        what={**{a: "aggregate" for a in resolved.aggregates}, **{p: "parameter" for p in params}},
        params=params,
        where="a formula (aggregates and parameters)",
    )
    for cust_type, formula in resolved.formulas.items():
        problems += check(formula, customer_scope, NUMBER, f"the {cust_type} formula")
    for cust_type in CUST_TYPES:
        if cust_type not in resolved.formulas:
            problems.append(
                Problem(
                    resolved.pos,
                    f"province {resolved.province} has no formula for customer type {cust_type}",
                )
            )
        if cust_type not in resolved.thresholds:
            problems.append(
                Problem(
                    resolved.pos,
                    f"province {resolved.province} has no threshold for customer type {cust_type}",
                )
            )
    if resolved.export_filter is None:
        problems.append(Problem(resolved.pos, f"province {resolved.province} has no export_filter"))
    return problems


def check_files(files: list[FormulaFile]) -> list[Problem]:
    """Problems across files: duplicate definitions of one scope on one effective date."""
    problems: list[Problem] = []
    seen: dict[tuple[str, date], Pos] = {}

    def claim(scope: str, when: date, pos: Pos) -> None:
        key = (scope, when)
        if key in seen:
            first = seen[key]
            problems.append(
                Problem(
                    pos, f"duplicate definition of {scope} in force from {when} (also at {first})"
                )
            )
        else:
            seen[key] = pos

    for f in files:
        if f.defaults is not None:
            claim("defaults", f.effective_date, f.defaults.pos)
        if f.fallback_province is not None:
            claim("fallback_province", f.effective_date, f.fallback_province[1])
        for code, block in f.provinces.items():
            claim(f"province {code}", f.effective_date, block.pos)
    return problems
