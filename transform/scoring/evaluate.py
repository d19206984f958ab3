"""Checked expressions turned into vectorized Arrow compute calls, exactly.

This module walks the expression tree: names are columns, aggregates or parameters;
conditions are masks (computed once per table and reused across aggregates); constants
fold in Python `Fraction`s; every other number is an exact `transform.scoring.ratio.Ratio`
(numerator and denominator per row), so no quotient is ever cut before the one rounding
of the score. A divisor that may be zero is guarded by the checker (filter, condition or
safe_div); the rows where a guard is false are computed as 0 and then discarded, because
Arrow evaluates both sides of a condition.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pyarrow as pa
import pyarrow.compute as pc

from transform.scoring import expression as tree
from transform.scoring import ratio
from transform.scoring.decimal_ops import Value, as_scalar, is_const, to_decimal
from transform.scoring.ratio import Ratio

_COMPARE = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}
_PY_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparable(x: Value, other: Value) -> Value:
    """Arrow-ready operand: integer columns compared with whole numbers stay integers."""
    if isinstance(x, str | bool):
        return x
    if isinstance(x, Decimal):
        if not is_const(other) and pa.types.is_integer(other.type) and x == x.to_integral_value():
            return pa.scalar(int(x), other.type)
        return as_scalar(x)
    if (
        pa.types.is_integer(x.type)
        and isinstance(other, Decimal)
        and other == other.to_integral_value()
    ):
        return x
    if (
        pa.types.is_string(x.type)
        or pa.types.is_large_string(x.type)
        or pa.types.is_boolean(x.type)
    ):
        return x
    if pa.types.is_date(x.type):
        return x
    return to_decimal(x)


def _number_const(x: Value) -> Fraction | None:
    """A constant number as an exact Fraction (None for columns, ratios and text)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, Decimal):
        return Fraction(x)
    return None


def _decimal_const(value: Fraction) -> Decimal | None:
    """The Fraction as an exact Decimal, when its denominator is 2**a * 5**b."""
    den = value.denominator
    for factor in (2, 5):
        while den % factor == 0:
            den //= factor
    if den != 1:
        return None
    return Decimal(value.numerator) / Decimal(value.denominator)


def _exact_decimal(x: Value) -> Value:
    """A folded constant as a Decimal where it is one exactly (Arrow compares decimals)."""
    if isinstance(x, Fraction):
        as_decimal = _decimal_const(x)
        return x if as_decimal is None else as_decimal
    return x


def as_ratio(x: Value) -> Ratio:
    """Any evaluated number (constant, column or ratio) as an exact ratio."""
    if isinstance(x, Ratio):
        return x
    number = _number_const(x)
    if number is not None:
        return ratio.const(number)
    return ratio.of_column(to_decimal(x))


def _fold(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else Fraction(0)  # only reachable on a branch a guard discards


def arithmetic(op: str, a: Value, b: Value) -> Value:
    """a op b, exactly: a Fraction for two constants, else a Ratio."""
    x, y = _number_const(a), _number_const(b)
    if x is not None and y is not None:
        return _fold(op, x, y)
    left, right = as_ratio(a), as_ratio(b)
    if op in "+-":
        return ratio.plus(left, right, op)
    if op == "*":
        return ratio.times(left, right)
    return ratio.divide(left, right)


class Evaluator:
    """Evaluates a checked expression over columns (`env` maps names to values)."""

    def __init__(self, env: dict[str, Value], length: int) -> None:
        self.env = env
        self.length = length
        # Conditions repeat across aggregates (kind == 'DEMAND', currency == 'CNY'...):
        # each is computed once per table.
        self._conditions: dict[str, Value] = {}

    def __call__(self, node: tree.Node) -> Value:
        if isinstance(node, tree.Cmp | tree.In | tree.BoolOp | tree.Not):
            key = tree.render(node)
            if key not in self._conditions:
                self._conditions[key] = self._evaluate(node)
            return self._conditions[key]
        return self._evaluate(node)

    def _evaluate(self, node: tree.Node) -> Value:
        if isinstance(node, tree.Num):
            return node.value
        if isinstance(node, tree.Str):
            return node.value
        if isinstance(node, tree.Name):
            return self.env[node.name]
        if isinstance(node, tree.Neg):
            operand = self(node.operand)
            number = _number_const(operand)
            return -number if number is not None else ratio.negate(as_ratio(operand))
        if isinstance(node, tree.Bin):  # a 400-term sum: one loop, not 400 recursions
            first, chain = tree.spine(node)
            value = self(first)
            for link in chain:
                value = arithmetic(link.op, value, self(link.right))
            return value
        if isinstance(node, tree.Cmp):
            return self.compare(node.op, self(node.left), self(node.right))
        if isinstance(node, tree.In):
            return self.member(node)
        if isinstance(node, tree.BoolOp):
            items = [self(i) for i in node.items]
            combine = pc.and_kleene if node.op == "and" else pc.or_kleene
            result = items[0]
            for item in items[1:]:
                if isinstance(result, bool) and isinstance(item, bool):
                    result = (result and item) if node.op == "and" else (result or item)
                else:
                    result = combine(result, item)
            return result
        if isinstance(node, tree.Not):
            operand = self(node.operand)
            return (not operand) if isinstance(operand, bool) else pc.invert(operand)
        if isinstance(node, tree.Cond):
            test = self(node.test)
            if isinstance(test, bool):
                return self(node.body) if test else self(node.orelse)
            body, orelse = as_ratio(self(node.body)), as_ratio(self(node.orelse))
            return ratio.select(pc.fill_null(test, False), body, orelse, self.length)
        if isinstance(node, tree.Call):
            return self.call(node)
        raise TypeError(node)

    def compare(self, op: str, left: Value, right: Value) -> Value:
        """left op right: constants in Python, ratios exactly, columns as Arrow compares."""
        x, y = _number_const(left), _number_const(right)
        if x is not None and y is not None:
            return bool(_PY_COMPARE[op](x, y))
        if is_const(left) and is_const(right):
            return bool(_PY_COMPARE[op](left, right))
        left, right = _exact_decimal(left), _exact_decimal(right)
        if any(isinstance(v, Ratio | Fraction) for v in (left, right)):
            return ratio.compare(as_ratio(left), as_ratio(right), _COMPARE[op])
        return _COMPARE[op](_comparable(left, right), _comparable(right, left))

    def member(self, node: tree.In) -> Value:
        """`operand in (values)`, or `not in`."""
        operand = self(node.operand)
        values = [self(v) for v in node.values]
        if is_const(operand) or isinstance(operand, Fraction):
            return (operand in values) != node.negate
        if isinstance(operand, Ratio):
            found: Value = False
            for value in values:
                equal = self.compare("==", operand, value)
                found = equal if isinstance(found, bool) else pc.or_kleene(found, equal)
            return pc.invert(found) if node.negate else found
        if all(isinstance(v, Decimal) for v in values):
            if pa.types.is_integer(operand.type) and all(
                v == v.to_integral_value() for v in values
            ):
                value_set = pa.array([int(v) for v in values], operand.type)
            else:
                operand = to_decimal(operand)
                value_set = pa.array(values, operand.type)
        else:
            value_set = pa.array(values, pa.string())
        found = pc.is_in(operand, value_set=value_set)
        return pc.invert(found) if node.negate else found

    def call(self, node: tree.Call) -> Value:
        args = [self(a) for a in node.args]
        numbers = [_number_const(a) for a in args]
        if all(n is not None for n in numbers):
            return _fold_call(node.fn, [n for n in numbers if n is not None])
        ratios = [as_ratio(a) for a in args]
        if node.fn == "abs":
            return ratio.absolute(ratios[0])
        if node.fn == "safe_div":
            dividend, divisor = ratios
            quotient = ratio.divide(dividend, divisor)
            zero = self.compare("==", divisor, Decimal(0))
            if isinstance(zero, bool):
                return ratio.const(Fraction(0)) if zero else quotient
            return ratio.select(zero, ratio.const(Fraction(0)), quotient, self.length)
        if node.fn in ("min", "max"):
            result = ratios[0]
            wanted = pc.less if node.fn == "min" else pc.greater
            for other in ratios[1:]:
                keep = ratio.compare(result, other, wanted)
                result = ratio.select(keep, result, other, self.length)
            return result
        raise TypeError(node.fn)

    def mask(self, node: tree.Node | None) -> pa.Array | pa.ChunkedArray | bool:
        """A filter's value: nulls count as false."""
        if node is None:
            return True
        value = self(node)
        return value if isinstance(value, bool) else pc.fill_null(value, False)

    def column(self, node: tree.Node) -> Ratio:
        """A number expression as an exact ratio with a full-length numerator."""
        return self.column_of(self(node))

    def column_of(self, value: Value) -> Ratio:
        """An evaluated number (a constant or a ratio) as a full-length exact ratio."""
        return ratio.full(as_ratio(value), self.length)


def _fold_call(fn: str, args: list[Fraction]) -> Fraction:
    """A function of constants, in Python."""
    if fn == "abs":
        return abs(args[0])
    if fn == "safe_div":
        return args[0] / args[1] if args[1] != 0 else Fraction(0)
    return min(args) if fn == "min" else max(args)
