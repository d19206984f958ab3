"""Types, names and division guards of a parsed expression, every problem collected.

`check` gives every node a type (number, string, bool, date), resolves names against
what the context offers (account fields, parameters, aggregates), and rejects a division
whose divisor may be zero unless it is guarded: by the aggregate's filter
(`term_months: {gt: 0}`), by a conditional (`a / b if b > 0 else 0`), or by `safe_div`.
The evaluator can then assume well-typed, guarded input and stays simple.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from transform.scoring import expression as tree
from transform.scoring.yaml_positions import Problem


@dataclass
class Scope:
    """What names mean where an expression is checked.

    types: name -> NUMBER / STRING / BOOL / DATE; what: name -> "field", "parameter",
    "aggregate" (for messages); params: parameter values (a divisor that is a non-zero
    parameter needs no guard); where: a phrase naming the place, for messages.
    """

    types: Mapping[str, str]
    what: Mapping[str, str]
    params: Mapping[str, Decimal]
    where: str


def nonzero_when(test: tree.Node, truth: bool) -> set[str]:
    """Names that cannot be zero when `test` evaluates to `truth` (a sound underestimate)."""
    if isinstance(test, tree.Not):
        return nonzero_when(test.operand, not truth)
    if isinstance(test, tree.BoolOp):
        sets = [nonzero_when(item, truth) for item in test.items]
        if (test.op == "and") == truth:
            return set().union(*sets)
        return set.intersection(*sets) if sets else set()
    if isinstance(test, tree.In) and isinstance(test.operand, tree.Name):
        if truth != test.negate and all(
            isinstance(v, tree.Num) and v.value != 0 for v in test.values
        ):
            return {test.operand.name}
        if truth == test.negate and any(
            isinstance(v, tree.Num) and v.value == 0 for v in test.values
        ):
            return {test.operand.name}
        return set()
    if isinstance(test, tree.Cmp):
        op, left, right = test.op, test.left, test.right
        if isinstance(left, tree.Num) and isinstance(right, tree.Name):
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
            op, left, right = flip[op], right, left
        if not (isinstance(left, tree.Name) and isinstance(right, tree.Num)):
            return set()
        if not truth:
            op = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}[op]
        value = right.value
        excludes_zero = {
            ">": value >= 0,
            ">=": value > 0,
            "<": value <= 0,
            "<=": value < 0,
            "==": value != 0,
            "!=": value == 0,
        }[op]
        return {left.name} if excludes_zero else set()
    return set()


def _nonzero(node: tree.Node, scope: Scope, facts: set[str]) -> bool:
    if isinstance(node, tree.Num):
        return node.value != 0
    if isinstance(node, tree.Name):
        if node.name in facts:
            return True
        return scope.what.get(node.name) == "parameter" and scope.params.get(node.name, 0) != 0
    if isinstance(node, tree.Neg):
        return _nonzero(node.operand, scope, facts)
    if isinstance(node, tree.Bin):
        first, chain = tree.spine(node)
        if any(link.op not in "*/" for link in chain):
            return False
        return _nonzero(first, scope, facts) and all(
            _nonzero(link.right, scope, facts) for link in chain
        )
    return False


class Checker:
    """Types an expression against a scope, collecting every problem."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []

    def problem(self, node: tree.Node, message: str) -> None:
        self.problems.append(Problem(node.pos, message))

    def expect(self, node: tree.Node, wanted: str, facts: set[str], role: str) -> None:
        got = self.type_of(node, facts)
        if got is not None and got != wanted:
            self.problem(node, f"{role} must be a {wanted}, but {tree.render(node)} is a {got}")

    def division_problem(self, node: tree.Bin) -> None:
        divisor = tree.render(node.right)
        by_filter = (
            f"a filter (where: {{{divisor}: {{gt: 0}}}}), "
            if self.scope.what.get(divisor) == "field"
            else ""
        )
        self.problem(
            node,
            f"division by {divisor}, which may be zero: guard it with {by_filter}"
            f"a condition (... / {divisor} if {divisor} != 0 else 0) or safe_div(a, b)",
        )

    def type_of(self, node: tree.Node, facts: set[str]) -> str | None:
        """The node's type, or None when a problem was already reported inside it."""
        if isinstance(node, tree.Num):
            return tree.NUMBER
        if isinstance(node, tree.Str):
            return tree.STRING
        if isinstance(node, tree.Name):
            if node.name not in self.scope.types:
                known = ", ".join(sorted(self.scope.types))
                self.problem(
                    node, f"unknown name {node.name!r} in {self.scope.where}; known: {known}"
                )
                return None
            return self.scope.types[node.name]
        if isinstance(node, tree.Neg):
            self.expect(node.operand, tree.NUMBER, facts, "the operand of -")
            return tree.NUMBER
        if isinstance(node, tree.Bin):
            first, chain = tree.spine(node)  # a long sum is walked, not recursed into
            self.expect(first, tree.NUMBER, facts, f"each side of {chain[0].op}")
            for link in chain:
                self.expect(link.right, tree.NUMBER, facts, f"each side of {link.op}")
                if link.op == "/" and not _nonzero(link.right, self.scope, facts):
                    self.division_problem(link)
            return tree.NUMBER
        if isinstance(node, tree.Cmp):
            left = self.type_of(node.left, facts)
            right = self.type_of(node.right, facts)
            if left is not None and right is not None:
                if left != right:
                    self.problem(
                        node, f"cannot compare a {left} with a {right}: {tree.render(node)}"
                    )
                elif left in (tree.STRING, tree.BOOL) and node.op not in ("==", "!="):
                    self.problem(node, f"a {left} can only be compared with == or !=")
            return tree.BOOL
        if isinstance(node, tree.In):
            operand = self.type_of(node.operand, facts)
            for value in node.values:
                if not isinstance(value, tree.Num | tree.Str):
                    self.problem(value, "the list after 'in' must hold constants")
                    continue
                got = tree.NUMBER if isinstance(value, tree.Num) else tree.STRING
                if operand is not None and got != operand:
                    self.problem(
                        value,
                        f"{tree.render(value)} is a {got}, but {tree.render(node.operand)} is a {operand}",
                    )
            return tree.BOOL
        if isinstance(node, tree.BoolOp):
            so_far = set(facts)
            for item in node.items:
                self.expect(item, tree.BOOL, so_far, f"each side of {node.op}")
                if node.op == "and":  # `b != 0 and a / b > 1` is guarded
                    so_far |= nonzero_when(item, True)
            return tree.BOOL
        if isinstance(node, tree.Not):
            self.expect(node.operand, tree.BOOL, facts, "the operand of not")
            return tree.BOOL
        if isinstance(node, tree.Cond):
            self.expect(node.test, tree.BOOL, facts, "the condition")
            self.expect(node.body, tree.NUMBER, facts | nonzero_when(node.test, True), "the value")
            self.expect(
                node.orelse,
                tree.NUMBER,
                facts | nonzero_when(node.test, False),
                "the value after else",
            )
            return tree.NUMBER
        if isinstance(node, tree.Call):
            for arg in node.args:
                self.expect(arg, tree.NUMBER, facts, f"each argument of {node.fn}()")
            return tree.NUMBER
        raise TypeError(node)


def check(
    node: tree.Node, scope: Scope, wanted: str, role: str, facts: set[str] | None = None
) -> list[Problem]:
    """Problems with `node` as a `wanted`-typed expression in `scope`."""
    checker = Checker(scope)
    checker.expect(node, wanted, set(facts or ()), role)
    return checker.problems
