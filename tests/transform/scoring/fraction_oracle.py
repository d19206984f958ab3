"""An exact reading of a formula, account by account in Python Fractions, for tests only.

It walks the parsed formula tree (the formula's meaning) with ordinary Python numbers,
without the evaluator, the ratio columns or Arrow, so a property test can compare the
vectorized scores with an independent computation of the same formula.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from transform.scoring import expression as tree
from transform.scoring.formula_model import Resolved

Env = dict[str, Any]


def evaluate(node: tree.Node, env: Env) -> Any:
    """The exact value of `node` (Fraction, str or bool) with names from `env`."""
    if isinstance(node, tree.Num):
        return Fraction(node.value)
    if isinstance(node, tree.Str):
        return node.value
    if isinstance(node, tree.Name):
        value = env[node.name]
        return (
            Fraction(value)
            if isinstance(value, Decimal | int) and not isinstance(value, bool)
            else value
        )
    if isinstance(node, tree.Neg):
        return -evaluate(node.operand, env)
    if isinstance(node, tree.Bin):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        return a / b
    if isinstance(node, tree.Cmp):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        return {
            "==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b
        }[node.op]  # fmt: skip
    if isinstance(node, tree.In):
        found = evaluate(node.operand, env) in [evaluate(v, env) for v in node.values]
        return found != node.negate
    if isinstance(node, tree.BoolOp):
        values = [evaluate(i, env) for i in node.items]
        return all(values) if node.op == "and" else any(values)
    if isinstance(node, tree.Not):
        return not evaluate(node.operand, env)
    if isinstance(node, tree.Cond):
        return evaluate(node.body if evaluate(node.test, env) else node.orelse, env)
    if isinstance(node, tree.Call):
        args = [evaluate(a, env) for a in node.args]
        if node.fn == "abs":
            return abs(args[0])
        if node.fn == "safe_div":
            return args[0] / args[1] if args[1] != 0 else Fraction(0)
        return min(args) if node.fn == "min" else max(args)
    raise TypeError(node)


def score(resolved: Resolved, cust_type: str, accounts: list[dict[str, Any]]) -> Fraction:
    """The customer's exact unrounded score: aggregates summed account by account."""
    result = evaluate(resolved.formulas[cust_type], totals(resolved, accounts))
    assert isinstance(result, Fraction)
    return result


def totals(resolved: Resolved, accounts: list[dict[str, Any]]) -> Env:
    """The parameters and every aggregate of one customer, summed account by account."""
    params: Env = {k: Fraction(v) for k, v in resolved.parameters.items()}
    sums: Env = dict(params)
    for name, aggregate in resolved.aggregates.items():
        total = Fraction(0)
        for row in accounts:
            env = {**row, **params}
            if not row.get("in_scope", True):
                continue
            if resolved.account_filter is not None and not evaluate(resolved.account_filter, env):
                continue
            if aggregate.where is not None and not evaluate(aggregate.where, env):
                continue
            total += evaluate(aggregate.value, env)
        sums[name] = total
    return sums
