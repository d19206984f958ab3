"""What `formula check` warns about without refusing: values an analyst rarely means.

A negative threshold lets every customer qualify, a negative export filter keeps every
account, a negative parameter or a negative coefficient (`-1.5 * demand`) turns a term
around. Each can be intended (a penalty term), so they are warnings with their position,
not problems: the file stays valid, and the analyst sees them before a trial.
"""

from __future__ import annotations

from decimal import Decimal

from transform.scoring import expression as tree
from transform.scoring.formula_model import Block, FormulaFile
from transform.scoring.yaml_positions import Pos, Problem


def formula_warnings(files: list[FormulaFile]) -> list[Problem]:
    """Every warning of the files, in file order."""
    found: list[Problem] = []
    for f in files:
        blocks = [("defaults", f.defaults)] if f.defaults is not None else []
        blocks += [(f"provinces.{code}", block) for code, block in f.provinces.items()]
        for where, block in blocks:
            found += _block_warnings(where, block)
    return sorted(found, key=lambda p: (p.pos.file, p.pos.line, p.pos.col, p.message))


def _block_warnings(where: str, block: Block) -> list[Problem]:
    found: list[Problem] = []
    for name, (value, pos) in block.parameters.items():
        if value < 0:
            found.append(Problem(pos, f"parameter {name!r} in {where} is negative ({value})"))
    for cust_type, (value, pos) in block.thresholds.items():
        if value < 0:
            found.append(Problem(pos, (
                f"the threshold for {cust_type} in {where} is negative ({value}): "
                "every customer with a score of 0 or more qualifies"
            )))  # fmt: skip
    if block.export_filter is not None and block.export_filter[0] < 0:
        value, pos = block.export_filter
        found.append(Problem(pos, (
            f"export_filter in {where} is negative ({value}): it keeps every account"
        )))  # fmt: skip
    expressions = [*block.formulas.values()]
    for aggregate in block.aggregates.values():
        expressions.append(aggregate.value)
    for node in expressions:
        found += [Problem(pos, _coefficient(value)) for value, pos in negative_coefficients(node)]
    return found


def _coefficient(value: Decimal) -> str:
    return (
        f"negative coefficient {value}: the term lowers the score "
        "(write it as a subtraction if that is meant)"
    )


def negative_coefficients(node: tree.Node) -> list[tuple[Decimal, Pos]]:
    """Negated numbers multiplying or dividing a term (`-1.5 * x`, `x * -2`, `x / -3`)."""
    found: list[tuple[Decimal, Pos]] = []
    stack = [node]
    while stack:  # iteratively: a 400-term formula is one chain (see expression.spine)
        current = stack.pop()
        if isinstance(current, tree.Bin) and current.op in "*/":
            for side in (current.left, current.right):
                if isinstance(side, tree.Neg) and isinstance(side.operand, tree.Num):
                    found.append((-side.operand.value, side.pos))
        stack.extend(tree.children(current))
    return found
