"""Checked expressions turned into vectorized Arrow compute calls, in exact decimals.

The arithmetic itself is in `transform.scoring.decimal_ops`; this module walks the
expression tree: names are columns or parameters, conditions are masks (computed once
per table and reused across aggregates), and a divisor that may be zero is guarded by
the checker (filter, condition or safe_div); the rows where a guard is false are
computed with a divisor of 1 and then discarded, because Arrow evaluates both sides of
a condition. Only the final score is rounded to the fen, half away from zero.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transform.scoring import expression as tree
from transform.scoring.decimal_ops import (
    Value,
    arith,
    as_scalar,
    common,
    const_type,
    is_const,
    tight,
    to_decimal,
)

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
            return -operand if isinstance(operand, Decimal) else pc.negate(to_decimal(operand))
        if isinstance(node, tree.Bin):
            return arith(node.op, self(node.left), self(node.right))
        if isinstance(node, tree.Cmp):
            left, right = self(node.left), self(node.right)
            if is_const(left) and is_const(right):
                return bool(_PY_COMPARE[node.op](left, right))
            return _COMPARE[node.op](_comparable(left, right), _comparable(right, left))
        if isinstance(node, tree.In):
            operand = self(node.operand)
            values = [self(v) for v in node.values]
            if is_const(operand):
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
            body, orelse = common(to_decimal(self(node.body)), to_decimal(self(node.orelse)))
            return pc.if_else(pc.fill_null(test, False), body, orelse)
        if isinstance(node, tree.Call):
            return self.call(node)
        raise TypeError(node)

    def call(self, node: tree.Call) -> Value:
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

    def mask(self, node: tree.Node | None) -> pa.Array | pa.ChunkedArray | bool:
        """A filter's value: nulls count as false."""
        if node is None:
            return True
        value = self(node)
        return value if isinstance(value, bool) else pc.fill_null(value, False)

    def column(self, node: tree.Node) -> Value:
        """A number expression as a full-length decimal256 array."""
        value = to_decimal(self(node))
        if isinstance(value, Decimal):
            return pa.nulls(self.length, const_type(value)).fill_null(as_scalar(value))
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
