"""Checked expressions turned into vectorized Arrow compute calls, in exact decimals.

Money must agree with a hand calculation to the fen, so no binary float is ever used:
every number is an Arrow `decimal256` (or, for constants, a Python `Decimal`). Sums,
differences and products of decimals are exact; Arrow widens their precision and scale
as needed, and this module narrows the precision back (to what the values actually need,
found with one `min_max` pass) only when the result would not fit 76 digits. Divisions
cannot be exact in decimals (1/12); the dividend is widened so that every quotient keeps
at least `SCALE` decimals (Arrow truncates beyond), and intermediate scales are held to
`SCALE` by rounding: at 20 decimals the error over ten million accounts stays below
1e-12 of a fen. Only the final score is rounded to the fen, half away from zero.

A divisor that may be zero is guarded by the checker (filter, condition or safe_div); the
rows where a guard is false are computed with a divisor of 1 and then discarded, because
Arrow evaluates both sides of a condition.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transform.scoring.expr import (
    Bin,
    BoolOp,
    Call,
    Cmp,
    Cond,
    In,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Str,
    render,
)

MAX_PRECISION = 76
SCALE = 20  # decimals kept by quotients and intermediate results
ROUND = "half_towards_infinity"  # half away from zero

Value: TypeAlias = Any  # pa.Array | pa.ChunkedArray | Decimal | str | bool


def _is_const(x: Value) -> bool:
    return isinstance(x, Decimal | str | bool)


def const_type(value: Decimal) -> pa.Decimal256Type:
    """The smallest decimal type holding `value` exactly."""
    if value.as_tuple().exponent > 0:  # type: ignore[operator]
        value = value.quantize(Decimal(1))
    sign, digits, exponent = value.as_tuple()
    scale = max(-int(exponent), 0)
    precision = max(len(digits), scale, 1)
    return pa.decimal256(precision, scale)


def to_decimal(x: Value) -> Value:
    """An array as decimal256 (integers and decimal128 included); constants unchanged."""
    if _is_const(x):
        return x
    t = x.type
    if pa.types.is_decimal256(t):
        return x
    if pa.types.is_decimal(t):
        return x.cast(pa.decimal256(t.precision, t.scale))
    if pa.types.is_integer(t):
        digits = {1: 3, 2: 5, 4: 10, 8: 19}[t.bit_width // 8]
        return x.cast(pa.decimal256(digits + 1 if pa.types.is_signed_integer(t) else digits, 0))
    if pa.types.is_null(t):
        return x.cast(pa.decimal256(1, 0))
    raise TypeError(f"not a number column: {t}")


def _ps(x: Value) -> tuple[int, int]:
    t = const_type(x) if isinstance(x, Decimal) else x.type
    return t.precision, t.scale


def _scalar(x: Value) -> Value:
    """Constants as typed Arrow scalars, arrays unchanged."""
    if isinstance(x, Decimal):
        return pa.scalar(x, const_type(x))
    return x


def tight(x: Value) -> Value:
    """The same values in the narrowest precision they need (exact)."""
    if _is_const(x):
        return x
    precision, scale = x.type.precision, x.type.scale
    bounds = pc.min_max(x).as_py()
    if bounds["min"] is None:
        return x.cast(pa.decimal256(max(scale, 1), scale))
    largest = max(abs(bounds["min"]), abs(bounds["max"]))
    int_digits = len(str(int(largest))) if largest >= 1 else 0
    needed = max(int_digits + scale, 1)
    return x.cast(pa.decimal256(needed, scale)) if needed < precision else x


def scale_to(x: Value, scale: int) -> Value:
    """At most `scale` decimals, rounding half away from zero where there were more."""
    if _is_const(x):
        return x
    precision, current = x.type.precision, x.type.scale
    if current <= scale:
        return x
    rounded = pc.round(x, ndigits=scale, round_mode=ROUND)
    return rounded.cast(pa.decimal256(min(MAX_PRECISION, precision - (current - scale) + 1), scale))


def _widen(x: Value, precision: int, scale: int) -> Value:
    """Same values with `scale` decimals (>= current) in `precision` digits."""
    if _is_const(x):
        return x
    if (x.type.precision, x.type.scale) == (precision, scale):
        return x
    return x.cast(pa.decimal256(precision, scale))


def common(a: Value, b: Value) -> tuple[Value, Value]:
    """Both operands in one decimal type (for if_else, min, max)."""
    (p1, s1), (p2, s2) = _ps(a), _ps(b)
    scale = max(s1, s2)
    precision = min(max(p1 - s1, p2 - s2) + scale, MAX_PRECISION)

    def fit(x: Value) -> Value:
        if isinstance(x, Decimal):
            return pa.scalar(x, pa.decimal256(precision, scale))
        return _widen(x, precision, scale)

    return fit(a), fit(b)


def _const_arith(op: str, a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return a / b if b != 0 else Decimal(0)


def _result_precision(op: str, a: Value, b: Value) -> int:
    (p1, s1), (p2, s2) = _ps(a), _ps(b)
    if op in "+-":
        return max(p1 - s1, p2 - s2) + max(s1, s2) + 1
    return p1 + p2 + 1


def _prepare_dividend(a: Value, b: Value) -> Value:
    """Widen the dividend's scale so the quotient keeps SCALE decimals."""
    (p1, s1), (p2, s2) = _ps(a), _ps(b)
    wanted = max(s1, SCALE + s2 - p2 - 1)
    if wanted == s1:
        return a
    if isinstance(a, Decimal):
        return a  # a constant's type is chosen at call time, see _typed_dividend
    return _widen(a, p1 + wanted - s1, wanted)


def _typed_dividend(a: Decimal, b: Value) -> Value:
    p2, s2 = _ps(b)
    p1, s1 = _ps(a)
    wanted = max(s1, SCALE + s2 - p2 - 1)
    return pa.scalar(a, pa.decimal256(p1 + wanted - s1, wanted))


def arith(op: str, a: Value, b: Value) -> Value:
    """a op b, exact except that quotients keep SCALE decimals."""
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return _const_arith(op, a, b)
    a, b = to_decimal(a), to_decimal(b)
    if op == "/":
        if isinstance(b, Decimal):
            if b == 0:  # only reachable on a branch a guard discards
                return Decimal(0)
        else:
            b = pc.if_else(pc.equal(b, pa.scalar(0, pa.decimal256(1, 0))), pa.scalar(1, b.type), b)
            b = tight(b)
    for attempt in range(3):
        if op == "/":
            a = _prepare_dividend(a, b)
        if _result_precision(op, a, b) <= MAX_PRECISION:
            break
        if attempt == 0:
            a, b = tight(a), tight(b)
        else:
            a, b = scale_to(a, SCALE // 2), scale_to(b, SCALE // 2)
    else:
        raise OverflowError(f"a value is too large for exact decimal arithmetic ({op})")
    left = _typed_dividend(a, b) if op == "/" and isinstance(a, Decimal) else _scalar(a)
    right = _scalar(b)
    function = {"+": pc.add, "-": pc.subtract, "*": pc.multiply, "/": pc.divide}[op]
    return scale_to(function(left, right), SCALE)


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
        if not _is_const(other) and pa.types.is_integer(other.type) and x == x.to_integral_value():
            return pa.scalar(int(x), other.type)
        return _scalar(x)
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


class Evaluator:
    """Evaluates a checked expression over columns (`env` maps names to values)."""

    def __init__(self, env: dict[str, Value], length: int) -> None:
        self.env = env
        self.length = length
        # Conditions repeat across aggregates (kind == 'DEMAND', currency == 'CNY'...):
        # each is computed once per table.
        self._conditions: dict[str, Value] = {}

    def __call__(self, node: Node) -> Value:
        if isinstance(node, Cmp | In | BoolOp | Not):
            key = render(node)
            if key not in self._conditions:
                self._conditions[key] = self._evaluate(node)
            return self._conditions[key]
        return self._evaluate(node)

    def _evaluate(self, node: Node) -> Value:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Str):
            return node.value
        if isinstance(node, Name):
            return self.env[node.name]
        if isinstance(node, Neg):
            operand = self(node.operand)
            return -operand if isinstance(operand, Decimal) else pc.negate(to_decimal(operand))
        if isinstance(node, Bin):
            return arith(node.op, self(node.left), self(node.right))
        if isinstance(node, Cmp):
            left, right = self(node.left), self(node.right)
            if _is_const(left) and _is_const(right):
                return bool(_PY_COMPARE[node.op](left, right))
            return _COMPARE[node.op](_comparable(left, right), _comparable(right, left))
        if isinstance(node, In):
            operand = self(node.operand)
            values = [self(v) for v in node.values]
            if _is_const(operand):
                return (operand in values) != node.negate
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
        if isinstance(node, BoolOp):
            items = [self(i) for i in node.items]
            combine = pc.and_kleene if node.op == "and" else pc.or_kleene
            result = items[0]
            for item in items[1:]:
                if isinstance(result, bool) and isinstance(item, bool):
                    result = (result and item) if node.op == "and" else (result or item)
                else:
                    result = combine(result, item)
            return result
        if isinstance(node, Not):
            operand = self(node.operand)
            return (not operand) if isinstance(operand, bool) else pc.invert(operand)
        if isinstance(node, Cond):
            test = self(node.test)
            if isinstance(test, bool):
                return self(node.body) if test else self(node.orelse)
            body, orelse = common(to_decimal(self(node.body)), to_decimal(self(node.orelse)))
            return pc.if_else(pc.fill_null(test, False), body, orelse)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(node)

    def call(self, node: Call) -> Value:
        args = [to_decimal(self(a)) for a in node.args]
        if node.fn == "abs":
            return abs(args[0]) if isinstance(args[0], Decimal) else pc.abs(args[0])
        if node.fn == "safe_div":
            dividend, divisor = args
            if isinstance(divisor, Decimal):
                return arith("/", dividend, divisor) if divisor != 0 else Decimal(0)
            quotient = arith("/", dividend, divisor)
            zero = pc.equal(divisor, pa.scalar(0, pa.decimal256(1, 0)))
            quotient, nothing = common(quotient, Decimal(0))
            return pc.if_else(zero, nothing, quotient)
        if node.fn in ("min", "max"):
            result = args[0]
            for arg in args[1:]:
                if isinstance(result, Decimal) and isinstance(arg, Decimal):
                    result = min(result, arg) if node.fn == "min" else max(result, arg)
                    continue
                left, right = common(result, arg)
                function = pc.min_element_wise if node.fn == "min" else pc.max_element_wise
                result = function(left, right)
            return result
        raise TypeError(node.fn)

    def mask(self, node: Node | None) -> pa.Array | pa.ChunkedArray | bool:
        """A filter's value: nulls count as false."""
        if node is None:
            return True
        value = self(node)
        return value if isinstance(value, bool) else pc.fill_null(value, False)

    def column(self, node: Node) -> Value:
        """A number expression as a full-length decimal256 array."""
        value = to_decimal(self(node))
        if isinstance(value, Decimal):
            return pa.nulls(self.length, const_type(value)).fill_null(_scalar(value))
        return value


def group_sum(index: pa.Array | pa.ChunkedArray, values: Value, groups: int) -> Value:
    """Per group 0..groups-1, the exact sum of `values` (0 for a group with none)."""
    values = to_decimal(values)
    table = pa.table({"g": index, "v": values})
    summed = table.group_by("g").aggregate([("v", "sum")])
    keys = summed.column("g").to_numpy()
    positions = np.full(groups, -1, dtype=np.int64)
    positions[keys] = np.arange(len(keys), dtype=np.int64)
    taken = summed.column("v_sum").take(pa.array(positions, mask=positions < 0))
    precision, scale = taken.type.precision, taken.type.scale
    zero = pa.scalar(0, pa.decimal256(precision, scale))
    return tight(pc.fill_null(taken, zero))
