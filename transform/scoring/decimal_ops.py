"""Exact decimal arithmetic on Arrow columns and constants, within decimal256's 76 digits.

Money must agree with a hand calculation to the fen, so no binary float is ever used:
every number is an Arrow `decimal256` (or, for constants, a Python `Decimal`). Sums,
differences and products of decimals are exact; Arrow widens their precision and scale
as needed, and `tight` narrows the precision back (to what the values actually need,
found with one `min_max` pass) when a result would not fit 76 digits. Quotients are not
decimals: `transform.scoring.ratio` keeps them as exact numerator / denominator.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_PRECISION = 76

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


def group_sum_decimal(index: pa.Array | pa.ChunkedArray, values: Value, groups: int) -> Value:
    """Per group 0..groups-1, the exact sum of decimal `values` (0 for a group with none)."""
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
