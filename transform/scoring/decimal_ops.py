"""Exact decimal arithmetic on Arrow columns and constants, within decimal256's 76 digits.

Money must agree with a hand calculation to the fen, so no binary float is ever used:
every number is an Arrow `decimal256` (or, for constants, a Python `Decimal`). Sums,
differences and products of decimals are exact; Arrow widens their precision and scale
as needed, and this module narrows the precision back (to what the values actually need,
found with one `min_max` pass) only when the result would not fit 76 digits. Divisions
cannot be exact in decimals (1/12); the dividend is widened so that every quotient keeps
at least `SCALE` decimals (Arrow truncates beyond), and intermediate scales are held to
`SCALE` by rounding.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

MAX_PRECISION = 76
SCALE = 20  # decimals kept by quotients and intermediate results
ROUND = "half_towards_infinity"  # half away from zero

Value: TypeAlias = Any  # pa.Array | pa.ChunkedArray | Decimal | str | bool


def is_const(x: Value) -> bool:
    """A constant (folded in Python), not a column."""
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
    if is_const(x):
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


def as_scalar(x: Value) -> Value:
    """Constants as typed Arrow scalars, arrays unchanged."""
    if isinstance(x, Decimal):
        return pa.scalar(x, const_type(x))
    return x


def tight(x: Value) -> Value:
    """The same values in the narrowest precision they need (exact)."""
    if is_const(x):
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
    if is_const(x):
        return x
    precision, current = x.type.precision, x.type.scale
    if current <= scale:
        return x
    rounded = pc.round(x, ndigits=scale, round_mode=ROUND)
    return rounded.cast(pa.decimal256(min(MAX_PRECISION, precision - (current - scale) + 1), scale))


def _widen(x: Value, precision: int, scale: int) -> Value:
    """Same values with `scale` decimals (>= current) in `precision` digits."""
    if is_const(x):
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
    left = _typed_dividend(a, b) if op == "/" and isinstance(a, Decimal) else as_scalar(a)
    right = as_scalar(b)
    function = {"+": pc.add, "-": pc.subtract, "*": pc.multiply, "/": pc.divide}[op]
    return scale_to(function(left, right), SCALE)
