"""The formula expression tree: what a parsed expression is made of, and its canonical text.

An expression is text an analyst writes (`balance_cny * term_months / 12`).
`transform.scoring.expression_parser` turns it into the small immutable tree below,
`transform.scoring.expression_check` types it, and `transform.scoring.evaluate` computes
it over Arrow columns; keeping the tree apart from all three lets each be read alone.
Numbers are exact `Decimal`s taken from their source text, so `1.1` is 11/10, not the
nearest binary float. `render` gives the canonical text that formula ids hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from transform.scoring.yaml_positions import Pos

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


# What a formula may hold, so that `formula check` refuses what the run could not compute:
# a number's digits (the exact decimal arithmetic of transform.scoring.ratio holds 76), and
# the nesting of an expression (every walker below recurses once per level; a chain of
# binary operators such as a 400-term sum is one level: it is walked iteratively).
MAX_INTEGER_DIGITS = 15
MAX_DECIMALS = 10
MAX_NESTING = 64


def out_of_range(value: Decimal, text: str) -> str | None:
    """Why the number `value` (written `text`) cannot be in a formula, or None."""
    if not value.is_finite():
        return f"{text} is not a finite number"
    if value == 0:
        return None
    exponent = int(value.normalize().as_tuple().exponent)  # finite: an int
    if value.adjusted() + 1 > MAX_INTEGER_DIGITS or exponent < -MAX_DECIMALS:
        return (
            f"{text} is out of range: a number in a formula has at most "
            f"{MAX_INTEGER_DIGITS} digits before the decimal point and {MAX_DECIMALS} after it"
        )
    return None


def spine(node: Bin) -> tuple[Node, list[Bin]]:
    """A chain of binary operators, `((a + b) - c) * d`, as its first operand (`a`) and
    its operators from the innermost out: what lets a long sum be walked without one
    recursion per term."""
    chain: list[Bin] = []
    current: Node = node
    while isinstance(current, Bin):
        chain.append(current)
        current = current.left
    chain.reverse()
    return current, chain


def nesting(node: Node) -> int:
    """How deeply the expression nests, a chain of binary operators counting as one level."""
    deepest = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(current, Bin):
            first, chain = spine(current)
            stack += [(first, depth + 1), *((b.right, depth + 1) for b in chain)]
        else:
            stack += [(child, depth + 1) for child in children(current)]
    return deepest


def names(node: Node) -> Iterable[Name]:
    """Every name the expression mentions, in order (iteratively: see `spine`)."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            yield current
        stack.extend(reversed(children(current)))


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of `node`."""
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
    if isinstance(node, Bin):
        first, chain = spine(node)
        text = render(first)
        for link in chain:
            text = f"({text} {link.op} {render(link.right)})"
        return text
    if isinstance(node, Cmp):
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
