"""Formula expressions parsed with Python's `ast` (parse only), never executed.

The text is parsed by `ast.parse(mode="eval")` and translated node by node into the tree
of `transform.scoring.expression`; any Python construct not on the whitelist (attribute
access, subscripts, lambdas, comprehensions, imports, keyword arguments...) is a problem
reported with its file position, mapped back through the YAML scalar it came from, so
that an analyst sees line and column in the formula file, not in a Python string.
"""

from __future__ import annotations

import ast
from decimal import Decimal

from transform.scoring import expression as tree
from transform.scoring.yaml_positions import Located, Pos, Problem

# An expression longer than this is not one an analyst can review; it is refused.
MAX_EXPRESSION_CHARS = 20_000

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

    def fail(self, node: ast.AST, message: str) -> tree.Node:
        self.problems.append(Problem(self.pos(node), message))
        return tree.Num(self.pos(node), Decimal(0))

    def number(self, node: ast.Constant) -> tree.Node:
        segment = ast.get_source_segment(self.text, node) or repr(node.value)
        try:
            value = Decimal(segment.replace("_", ""))
        except ArithmeticError:
            return self.fail(node, f"{segment!r} is not a decimal number")
        wrong = tree.out_of_range(value, segment)
        return self.fail(node, wrong) if wrong else tree.Num(self.pos(node), value)

    def visit(self, node: ast.AST) -> tree.Node:
        pos = self.pos(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or node.value is None:
                return self.fail(node, f"{node.value!r} is not allowed in a formula")
            if isinstance(node.value, int | float):
                return self.number(node)
            if isinstance(node.value, str):
                return tree.Str(pos, node.value)
            return self.fail(node, f"the constant {node.value!r} is not allowed in a formula")
        if isinstance(node, ast.Name):
            return tree.Name(pos, node.id)
        if isinstance(node, ast.BinOp):
            return self.chain(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return tree.Neg(pos, self.visit(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return tree.Not(pos, self.visit(node.operand))
            return self.fail(node, "the operator ~ is not allowed in a formula")
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return tree.BoolOp(pos, op, tuple(self.visit(v) for v in node.values))
        if isinstance(node, ast.IfExp):
            return tree.Cond(
                pos, self.visit(node.test), self.visit(node.body), self.visit(node.orelse)
            )
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.List | ast.Tuple):
            return self.fail(node, "a list is only allowed after 'in' / 'not in'")
        for kind, what in _FORBIDDEN.items():
            if isinstance(node, kind):
                return self.fail(node, f"{what} is not allowed in a formula")
        return self.fail(node, f"{type(node).__name__} is not allowed in a formula")

    def chain(self, node: ast.BinOp) -> tree.Node:
        """A chain of binary operators, built from the innermost out: a 400-term sum is
        one loop here, not 400 recursions."""
        links: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            links.append(current)
            current = current.left
        built = self.visit(current)
        for link in reversed(links):
            op = _BINOPS.get(type(link.op))
            if op is None:
                return self.fail(link, "only + - * / are allowed between numbers")
            built = tree.Bin(self.pos(link), op, built, self.visit(link.right))
        return built

    def compare(self, node: ast.Compare) -> tree.Node:
        pos = self.pos(node)
        parts: list[tree.Node] = []
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(comparator, ast.List | ast.Tuple):
                    parts.append(
                        self.fail(comparator, "'in' needs a list: kind in ('TIME', 'DEMAND')")
                    )
                    continue
                values = tuple(self.visit(v) for v in comparator.elts)
                parts.append(tree.In(pos, left, values, isinstance(op, ast.NotIn)))
                continue
            name = _CMPOPS.get(type(op))
            if name is None:
                parts.append(self.fail(node, "only == != < <= > >= in not in compare values"))
                continue
            right = self.visit(comparator)
            parts.append(tree.Cmp(pos, name, left, right))
            left = right
        return parts[0] if len(parts) == 1 else tree.BoolOp(pos, "and", tuple(parts))

    def call(self, node: ast.Call) -> tree.Node:
        if not isinstance(node.func, ast.Name):
            return self.fail(
                node, "only the functions " + ", ".join(tree.FUNCTIONS) + " can be called"
            )
        name = node.func.id
        if name not in tree.FUNCTIONS:
            return self.fail(
                node, f"unknown function {name!r}: the functions are " + ", ".join(tree.FUNCTIONS)
            )
        if node.keywords:
            return self.fail(node, f"{name}() takes no named arguments")
        low, high = tree.FUNCTIONS[name]
        if not low <= len(node.args) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            return self.fail(node, f"{name}() takes {wanted} arguments, not {len(node.args)}")
        return tree.Call(self.pos(node), name, tuple(self.visit(a) for a in node.args))


def parse(source: Located) -> tree.Node:
    """Parse one expression (a YAML string scalar); raise ExprError with positions."""
    if not isinstance(source.value, str):
        raise ExprError([Problem(source.pos, "an expression must be text")])
    text = source.value
    if not text.strip():
        raise ExprError([Problem(source.pos, "the expression is empty")])
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExprError([Problem(source.pos, (
            f"the expression is {len(text):,} characters long; at most "
            f"{MAX_EXPRESSION_CHARS:,} (name its parts as aggregates or parameters)"
        ))])  # fmt: skip
    wrapped = "(" + text + "\n)"
    translator = _Translator(source, wrapped)
    too_deep = Problem(source.pos, (
        f"the expression is too long or nests too deeply to compute: at most "
        f"{tree.MAX_NESTING} levels of nesting (name its parts as aggregates or parameters)"
    ))  # fmt: skip
    try:
        parsed = ast.parse(wrapped, mode="eval")
    except RecursionError:
        raise ExprError([too_deep]) from None
    except SyntaxError as exc:
        offset = translator.line_starts[max((exc.lineno or 1) - 1, 0)] + max(
            (exc.offset or 1) - 2, 0
        )
        pos = source.pos_at(min(offset, len(text)))
        raise ExprError([Problem(pos, f"syntax error in the expression: {exc.msg}")]) from exc
    try:
        node = translator.visit(parsed.body)
    except RecursionError:
        raise ExprError([too_deep]) from None
    if translator.problems:
        raise ExprError(translator.problems)
    if tree.nesting(node) > tree.MAX_NESTING:
        raise ExprError([too_deep])
    return node
