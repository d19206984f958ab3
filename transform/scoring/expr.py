"""Formula expressions: parsed with Python's `ast` (parse only), checked, never executed.

An expression is text an analyst writes (`balance_cny * term_months / 12`). It is parsed
by `ast.parse(mode="eval")` and translated node by node into the small tree below; any
Python construct not on the whitelist (attribute access, subscripts, lambdas,
comprehensions, imports, keyword arguments...) is a problem reported with its position.
Nothing is ever evaluated by Python: `transform.scoring.evaluate` turns the tree into
Arrow compute calls. Numbers are taken as exact `Decimal`s from their source text, so
`1.1` is 11/10, not the nearest binary float.

`check` then gives every node a type (number, string, bool, date), resolves names against
what the context offers (account fields, parameters, aggregates), and rejects a division
whose divisor may be zero unless it is guarded: by the aggregate's filter
(`term_months: {gt: 0}`), by a conditional (`a / b if b > 0 else 0`), or by `safe_div`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from transform.scoring.source import Located, Pos, Problem

NUMBER, STRING, BOOL, DATE = "number", "string", "bool", "date"


@dataclass(frozen=True)
class Node:
    pos: Pos


@dataclass(frozen=True)
class Num(Node):
    value: Decimal


@dataclass(frozen=True)
class Str(Node):
    value: str


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Bin(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True)
class Cmp(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True)
class In(Node):
    operand: Node
    values: tuple[Node, ...]
    negate: bool


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # and / or
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class Cond(Node):
    test: Node
    body: Node
    orelse: Node


@dataclass(frozen=True)
class Call(Node):
    fn: str
    args: tuple[Node, ...]


# name: (minimum, maximum) number of arguments; all numbers, result a number.
FUNCTIONS: dict[str, tuple[int, int]] = {
    "safe_div": (2, 2),  # a / b, and 0 where b is 0
    "min": (2, 16),
    "max": (2, 16),
    "abs": (1, 1),
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMPOPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_FORBIDDEN = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "a subscript (a[b])",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.NamedExpr: "an assignment (:=)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred argument",
    ast.Dict: "a dictionary",
    ast.Set: "a set",
}


class ExprError(Exception):
    """An expression cannot be parsed; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class _Translator:
    """ast -> Node, with file positions mapped through the YAML scalar's segments."""

    def __init__(self, source: Located, text: str) -> None:
        self.source = source
        self.text = text
        self.line_starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                self.line_starts.append(index + 1)
        self.problems: list[Problem] = []

    def pos(self, node: ast.AST) -> Pos:
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        # The text was wrapped in "(" ... "\n)" so it may span lines: undo the "(".
        line_start = self.line_starts[min(lineno - 1, len(self.line_starts) - 1)]
        line_text = self.text[line_start:]
        chars = len(line_text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
        offset = line_start + chars - 1
        return self.source.pos_at(max(offset, 0))

    def fail(self, node: ast.AST, message: str) -> Node:
        self.problems.append(Problem(self.pos(node), message))
        return Num(self.pos(node), Decimal(0))

    def number(self, node: ast.Constant) -> Node:
        segment = ast.get_source_segment(self.text, node) or repr(node.value)
        try:
            return Num(self.pos(node), Decimal(segment.replace("_", "")))
        except ArithmeticError:
            return self.fail(node, f"{segment!r} is not a decimal number")

    def visit(self, node: ast.AST) -> Node:
        pos = self.pos(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or node.value is None:
                return self.fail(node, f"{node.value!r} is not allowed in a formula")
            if isinstance(node.value, int | float):
                return self.number(node)
            if isinstance(node.value, str):
                return Str(pos, node.value)
            return self.fail(node, f"the constant {node.value!r} is not allowed in a formula")
        if isinstance(node, ast.Name):
            return Name(pos, node.id)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                return self.fail(node, "only + - * / are allowed between numbers")
            return Bin(pos, op, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Neg(pos, self.visit(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return Not(pos, self.visit(node.operand))
            return self.fail(node, "the operator ~ is not allowed in a formula")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(pos, op, tuple(self.visit(v) for v in node.values))
        if isinstance(node, ast.IfExp):
            return Cond(pos, self.visit(node.test), self.visit(node.body), self.visit(node.orelse))
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.List | ast.Tuple):
            return self.fail(node, "a list is only allowed after 'in' / 'not in'")
        for kind, what in _FORBIDDEN.items():
            if isinstance(node, kind):
                return self.fail(node, f"{what} is not allowed in a formula")
        return self.fail(node, f"{type(node).__name__} is not allowed in a formula")

    def compare(self, node: ast.Compare) -> Node:
        pos = self.pos(node)
        parts: list[Node] = []
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(comparator, ast.List | ast.Tuple):
                    parts.append(
                        self.fail(comparator, "'in' needs a list: kind in ('TIME', 'DEMAND')")
                    )
                    continue
                values = tuple(self.visit(v) for v in comparator.elts)
                parts.append(In(pos, left, values, isinstance(op, ast.NotIn)))
                continue
            name = _CMPOPS.get(type(op))
            if name is None:
                parts.append(self.fail(node, "only == != < <= > >= in not in compare values"))
                continue
            right = self.visit(comparator)
            parts.append(Cmp(pos, name, left, right))
            left = right
        return parts[0] if len(parts) == 1 else BoolOp(pos, "and", tuple(parts))

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            return self.fail(node, "only the functions " + ", ".join(FUNCTIONS) + " can be called")
        name = node.func.id
        if name not in FUNCTIONS:
            return self.fail(
                node, f"unknown function {name!r}: the functions are " + ", ".join(FUNCTIONS)
            )
        if node.keywords:
            return self.fail(node, f"{name}() takes no named arguments")
        low, high = FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            return self.fail(node, f"{name}() takes {wanted} arguments, not {len(node.args)}")
        return Call(self.pos(node), name, tuple(self.visit(a) for a in node.args))


def parse(source: Located) -> Node:
    """Parse one expression (a YAML string scalar); raise ExprError with positions."""
    if not isinstance(source.value, str):
        raise ExprError([Problem(source.pos, "an expression must be text")])
    text = source.value
    if not text.strip():
        raise ExprError([Problem(source.pos, "the expression is empty")])
    wrapped = "(" + text + "\n)"
    translator = _Translator(source, wrapped)
    try:
        tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        offset = translator.line_starts[max((exc.lineno or 1) - 1, 0)] + max(
            (exc.offset or 1) - 2, 0
        )
        pos = source.pos_at(min(offset, len(text)))
        raise ExprError([Problem(pos, f"syntax error in the expression: {exc.msg}")]) from exc
    node = translator.visit(tree.body)
    if translator.problems:
        raise ExprError(translator.problems)
    return node


def names(node: Node) -> Iterable[Name]:
    """Every name the expression mentions."""
    if isinstance(node, Name):
        yield node
    for child in children(node):
        yield from names(child)


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Bin | Cmp):
        return (node.left, node.right)
    if isinstance(node, Neg | Not):
        return (node.operand,)
    if isinstance(node, In):
        return (node.operand, *node.values)
    if isinstance(node, BoolOp):
        return node.items
    if isinstance(node, Cond):
        return (node.test, node.body, node.orelse)
    if isinstance(node, Call):
        return node.args
    return ()


def render(node: Node) -> str:
    """Canonical text of an expression (what the formula's content hash covers)."""
    if isinstance(node, Num):
        return str(node.value)
    if isinstance(node, Str):
        return repr(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Bin | Cmp):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    if isinstance(node, Neg):
        return f"(-{render(node.operand)})"
    if isinstance(node, Not):
        return f"(not {render(node.operand)})"
    if isinstance(node, In):
        values = ", ".join(render(v) for v in node.values)
        return f"({render(node.operand)} {'not in' if node.negate else 'in'} ({values}))"
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(render(i) for i in node.items) + ")"
    if isinstance(node, Cond):
        return f"({render(node.body)} if {render(node.test)} else {render(node.orelse)})"
    if isinstance(node, Call):
        return f"{node.fn}(" + ", ".join(render(a) for a in node.args) + ")"
    raise TypeError(node)


# --- checking ---------------------------------------------------------------------------


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


def nonzero_when(test: Node, truth: bool) -> set[str]:
    """Names that cannot be zero when `test` evaluates to `truth` (a sound underestimate)."""
    if isinstance(test, Not):
        return nonzero_when(test.operand, not truth)
    if isinstance(test, BoolOp):
        sets = [nonzero_when(item, truth) for item in test.items]
        if (test.op == "and") == truth:
            return set().union(*sets)
        return set.intersection(*sets) if sets else set()
    if isinstance(test, In) and isinstance(test.operand, Name):
        if truth != test.negate and all(isinstance(v, Num) and v.value != 0 for v in test.values):
            return {test.operand.name}
        if truth == test.negate and any(isinstance(v, Num) and v.value == 0 for v in test.values):
            return {test.operand.name}
        return set()
    if isinstance(test, Cmp):
        op, left, right = test.op, test.left, test.right
        if isinstance(left, Num) and isinstance(right, Name):
            flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
            op, left, right = flip[op], right, left
        if not (isinstance(left, Name) and isinstance(right, Num)):
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


def _nonzero(node: Node, scope: Scope, facts: set[str]) -> bool:
    if isinstance(node, Num):
        return node.value != 0
    if isinstance(node, Name):
        if node.name in facts:
            return True
        return scope.what.get(node.name) == "parameter" and scope.params.get(node.name, 0) != 0
    if isinstance(node, Neg):
        return _nonzero(node.operand, scope, facts)
    if isinstance(node, Bin) and node.op in "*/":
        return _nonzero(node.left, scope, facts) and _nonzero(node.right, scope, facts)
    return False


class Checker:
    """Types an expression against a scope, collecting every problem."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(node.pos, message))

    def expect(self, node: Node, wanted: str, facts: set[str], role: str) -> None:
        got = self.type_of(node, facts)
        if got is not None and got != wanted:
            self.problem(node, f"{role} must be a {wanted}, but {render(node)} is a {got}")

    def type_of(self, node: Node, facts: set[str]) -> str | None:
        """The node's type, or None when a problem was already reported inside it."""
        if isinstance(node, Num):
            return NUMBER
        if isinstance(node, Str):
            return STRING
        if isinstance(node, Name):
            if node.name not in self.scope.types:
                known = ", ".join(sorted(self.scope.types))
                self.problem(
                    node, f"unknown name {node.name!r} in {self.scope.where}; known: {known}"
                )
                return None
            return self.scope.types[node.name]
        if isinstance(node, Neg):
            self.expect(node.operand, NUMBER, facts, "the operand of -")
            return NUMBER
        if isinstance(node, Bin):
            self.expect(node.left, NUMBER, facts, f"each side of {node.op}")
            self.expect(node.right, NUMBER, facts, f"each side of {node.op}")
            if node.op == "/" and not _nonzero(node.right, self.scope, facts):
                divisor = render(node.right)
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
            return NUMBER
        if isinstance(node, Cmp):
            left = self.type_of(node.left, facts)
            right = self.type_of(node.right, facts)
            if left is not None and right is not None:
                if left != right:
                    self.problem(node, f"cannot compare a {left} with a {right}: {render(node)}")
                elif left in (STRING, BOOL) and node.op not in ("==", "!="):
                    self.problem(node, f"a {left} can only be compared with == or !=")
            return BOOL
        if isinstance(node, In):
            operand = self.type_of(node.operand, facts)
            for value in node.values:
                if not isinstance(value, Num | Str):
                    self.problem(value, "the list after 'in' must hold constants")
                    continue
                got = NUMBER if isinstance(value, Num) else STRING
                if operand is not None and got != operand:
                    self.problem(
                        value,
                        f"{render(value)} is a {got}, but {render(node.operand)} is a {operand}",
                    )
            return BOOL
        if isinstance(node, BoolOp):
            so_far = set(facts)
            for item in node.items:
                self.expect(item, BOOL, so_far, f"each side of {node.op}")
                if node.op == "and":  # `b != 0 and a / b > 1` is guarded
                    so_far |= nonzero_when(item, True)
            return BOOL
        if isinstance(node, Not):
            self.expect(node.operand, BOOL, facts, "the operand of not")
            return BOOL
        if isinstance(node, Cond):
            self.expect(node.test, BOOL, facts, "the condition")
            self.expect(node.body, NUMBER, facts | nonzero_when(node.test, True), "the value")
            self.expect(
                node.orelse, NUMBER, facts | nonzero_when(node.test, False), "the value after else"
            )
            return NUMBER
        if isinstance(node, Call):
            for arg in node.args:
                self.expect(arg, NUMBER, facts, f"each argument of {node.fn}()")
            return NUMBER
        raise TypeError(node)


def check(
    node: Node, scope: Scope, wanted: str, role: str, facts: set[str] | None = None
) -> list[Problem]:
    """Problems with `node` as a `wanted`-typed expression in `scope`."""
    checker = Checker(scope)
    checker.expect(node, wanted, set(facts or ()), role)
    return checker.problems
