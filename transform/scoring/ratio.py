"""Exact rational columns: a decimal numerator and a positive whole denominator per row.

A score must be the exact value of its formula, rounded once to the fen, half away from
zero (issue 18): a division cut to a fixed number of decimals before the final rounding
puts about one score in 1,300 a fen low (1.2 x 56,237.50 / 24 is 2,811.875 exactly, but
2,811.87499... when cut). Decimals cannot hold 1/24, so every number an expression
computes is a `Ratio`: `num / den`, where `num` is an exact decimal256 column and `den` a
whole number > 0 (one Python int for the whole column, or a decimal256(p, 0) column).
Sums, products and quotients of ratios are ratios, computed with Arrow's exact decimal
arithmetic; denominators are kept small with least common multiples where they fit in
int64 (numpy's `lcm`), and multiplied otherwise. Nothing is ever cut: a value that would
need more than decimal256's 76 digits raises OverflowError instead of losing a digit.

Division happens once, in `round_fen`: the integer quotient and its remainder decide the
fen, so a tie (x.xx5 exactly) is recognised exactly and goes away from zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from transform.scoring.decimal_ops import (
    MAX_PRECISION,
    common,
    const_type,
    group_sum_decimal,
    tight,
)

Column: TypeAlias = Any  # pa.Array | pa.ChunkedArray of decimal256
Den: TypeAlias = Any  # a Python int > 0, or a decimal256(p, 0) column of values > 0
_INT64_SAFE = 2**62


@dataclass(frozen=True)
class Ratio:
    """num / den for every row; `num` a decimal256 column or an integral Decimal constant."""

    num: Column | Decimal
    den: Den


def _array(x: Column) -> pa.Array:
    return x.combine_chunks() if isinstance(x, pa.ChunkedArray) else x


def _is_one(den: Den) -> bool:
    return isinstance(den, int) and den == 1


def _is_column(x: Any) -> bool:
    return isinstance(x, pa.Array | pa.ChunkedArray)


def _int_scalar(value: int) -> pa.Scalar:
    return pa.scalar(Decimal(value), pa.decimal256(max(len(str(abs(value))), 1), 0))


def _operand(x: Column | Decimal | int) -> Any:
    """Arrow operand: columns as they are, whole numbers as exact decimal scalars."""
    if _is_column(x):
        return x
    if isinstance(x, int):
        return _int_scalar(x)
    return pa.scalar(x, const_type(x))


def _fit(x: Any, y: Any, needed: int) -> tuple[Any, Any]:
    """Operands narrowed to the digits they need when `needed` exceeds 76 digits."""
    if needed <= MAX_PRECISION:
        return x, y
    x, y = (tight(v) if _is_column(v) else v for v in (x, y))
    return x, y


def _ps(x: Any) -> tuple[int, int]:
    t = x.type
    return t.precision, t.scale


def _check(needed: int, what: str) -> None:
    if needed > MAX_PRECISION:
        raise OverflowError(f"a value is too large for exact decimal arithmetic ({what})")


def mul(x: Column | Decimal | int, y: Column | Decimal | int) -> Column | Decimal:
    """x * y exactly (columns, decimal constants or whole numbers)."""
    if not _is_column(x) and not _is_column(y):
        with localcontext() as ctx:
            ctx.prec = MAX_PRECISION * 3
            return Decimal(x) * Decimal(y)
    a, b = _operand(x), _operand(y)
    (p1, _), (p2, _) = _ps(a), _ps(b)
    a, b = _fit(a, b, p1 + p2 + 1)
    (p1, _), (p2, _) = _ps(a), _ps(b)
    _check(p1 + p2 + 1, "*")
    return pc.multiply(a, b)


def add(x: Column | Decimal, y: Column | Decimal, op: str = "+") -> Column | Decimal:
    """x + y (or x - y) exactly."""
    if not _is_column(x) and not _is_column(y):
        with localcontext() as ctx:
            ctx.prec = MAX_PRECISION * 3
            return Decimal(x) + Decimal(y) if op == "+" else Decimal(x) - Decimal(y)
    a, b = _operand(x), _operand(y)

    def needed() -> int:
        (p1, s1), (p2, s2) = _ps(a), _ps(b)
        return max(p1 - s1, p2 - s2) + max(s1, s2) + 1

    a, b = _fit(a, b, needed())
    _check(needed(), op)
    return pc.add(a, b) if op == "+" else pc.subtract(a, b)


def _whole(den: Den) -> pa.Array:
    """A denominator column as decimal256(p, 0)."""
    return tight(_array(den))


def _as_int64(den: Den) -> npt.NDArray[np.int64] | None:
    """The denominator column as int64, when every value is below 2**62."""
    largest = pc.max(den).as_py()
    if largest is None or largest >= _INT64_SAFE:
        return None
    return np.asarray(pc.cast(den, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _small(den: Den) -> npt.NDArray[np.int64] | None:
    """A denominator as int64 values (one for a constant), when it fits."""
    if isinstance(den, int):
        return np.asarray([den], dtype=np.int64) if den < _INT64_SAFE else None
    return _as_int64(den)


def _from_int64(values: npt.NDArray[np.int64]) -> pa.Array:
    return tight(pa.array(values, pa.int64()).cast(pa.decimal256(19, 0)))


def den_mul(a: Den, b: Den) -> Den:
    """The product of two denominators."""
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return _whole(mul(a, b))


def common_den(a: Den, b: Den) -> tuple[Den, Den, Den]:
    """(d, fa, fb) with d = a * fa = b * fb: the least common multiple where it is cheap."""
    if isinstance(a, int) and isinstance(b, int):
        d = math.lcm(a, b)
        return d, d // a, d // b
    left, right = _small(a), _small(b)
    if (
        left is not None
        and right is not None
        and float(np.max(left)) * float(np.max(right)) < _INT64_SAFE
    ):
        multiple = np.lcm(left, right)
        return (
            _from_int64(multiple),
            _from_int64(multiple // left),
            _from_int64(multiple // right),
        )
    return den_mul(a, b), b, a


def const(value: Fraction) -> Ratio:
    """A constant as a ratio (its denominator is one whole number)."""
    return Ratio(Decimal(value.numerator), value.denominator)


def of_column(x: Column) -> Ratio:
    """A decimal or integer column as a ratio over 1."""
    return Ratio(x, 1)


def plus(a: Ratio, b: Ratio, op: str = "+") -> Ratio:
    d, fa, fb = common_den(a.den, b.den)
    left = a.num if isinstance(fa, int) and fa == 1 else mul(a.num, fa)
    right = b.num if isinstance(fb, int) and fb == 1 else mul(b.num, fb)
    return Ratio(add(left, right, op), d)


def times(a: Ratio, b: Ratio) -> Ratio:
    return Ratio(mul(a.num, b.num), den_mul(a.den, b.den))


def _unscaled(x: Column) -> tuple[pa.Array, int]:
    """A decimal column's unscaled integers (the same bytes read with scale 0), and the scale."""
    array = _array(x)
    precision, scale = _ps(array)
    whole = pa.Array.from_buffers(
        pa.decimal256(precision, 0), len(array), array.buffers(), offset=array.offset
    )
    return whole, scale


def divide(a: Ratio, b: Ratio) -> Ratio:
    """a / b; rows where b is 0 give 0 / 1 (a guard discards them, see the checker)."""
    if not _is_column(b.num):
        value = Fraction(b.num) / b.den
        if value == 0:
            return Ratio(Decimal(0), 1)
        return times(a, const(1 / value))
    whole, scale = _unscaled(b.num)  # b = whole / (10**scale * b.den)
    zero = pc.equal(whole, _int_scalar(0))
    negative = pc.less(whole, _int_scalar(0))
    magnitude = pc.if_else(zero, _int_scalar(1).cast(whole.type), pc.abs(whole))
    sign = pc.if_else(negative, _int_scalar(-1), _int_scalar(1))
    num = mul(mul(a.num, b.den) if not _is_one(b.den) else a.num, sign)
    num = mul(num, 10**scale) if scale else num
    nothing = _operand(Decimal(0)).cast(_operand(num).type)
    num = pc.if_else(zero, nothing, num)
    return Ratio(num, den_mul(a.den, _whole(magnitude)))


def negate(a: Ratio) -> Ratio:
    return Ratio(-a.num if isinstance(a.num, Decimal) else pc.negate(a.num), a.den)


def absolute(a: Ratio) -> Ratio:
    return Ratio(abs(a.num) if isinstance(a.num, Decimal) else pc.abs(a.num), a.den)


def compare(a: Ratio, b: Ratio, function: Any) -> Any:
    """`function` (pc.less, pc.equal...) of a and b, exactly: a.num * b.den vs b.num * a.den."""
    left = mul(a.num, b.den) if not _is_one(b.den) else a.num
    right = mul(b.num, a.den) if not _is_one(a.den) else b.num
    left, right = common(left, right)
    return function(left, right)


def _full(x: Column | Decimal | int, length: int) -> pa.Array:
    if _is_column(x):
        return _array(x)
    scalar = _operand(x)
    return pa.repeat(scalar, length)


def select(mask: Any, a: Ratio, b: Ratio, length: int) -> Ratio:
    """a where mask, else b (row by row; denominators too)."""
    num = pc.if_else(mask, *common(_full(a.num, length), _full(b.num, length)))
    if isinstance(a.den, int) and isinstance(b.den, int) and a.den == b.den:
        return Ratio(num, a.den)
    den = pc.if_else(mask, *common(_full(a.den, length), _full(b.den, length)))
    return Ratio(num, _whole(den))


def full(a: Ratio, length: int) -> Ratio:
    """The ratio with a numerator column of `length` rows."""
    return Ratio(_full(a.num, length), a.den)


def group_sum(index: Column, values: Ratio, groups: int) -> Ratio:
    """Per group 0..groups-1, the exact sum of `values` (0 for a group with none)."""
    if isinstance(values.den, int):
        return Ratio(group_sum_decimal(index, _full(values.num, len(index)), groups), values.den)
    dens = _as_int64(values.den)
    owner = np.asarray(_array(index).to_numpy(zero_copy_only=False), dtype=np.int64)
    if dens is not None:
        lcm = _group_lcm(owner, dens, groups)
        if lcm is not None:
            factor = _from_int64(lcm[owner] // dens)
            num = group_sum_decimal(index, mul(_full(values.num, len(index)), factor), groups)
            return Ratio(num, _from_int64(lcm))
    return _group_sum_fractions(owner, values, groups)


def _group_lcm(
    owner: npt.NDArray[np.int64], dens: npt.NDArray[np.int64], groups: int
) -> npt.NDArray[np.int64] | None:
    """Each group's least common multiple of its denominators, or None if it may overflow."""
    order = np.lexsort((dens, owner))
    g, d = owner[order], dens[order]
    first = np.ones(len(g), dtype=bool)
    first[1:] = (g[1:] != g[:-1]) | (d[1:] != d[:-1])
    g, d = g[first], d[first]  # each (group, denominator) once
    bits = np.bincount(g, weights=np.log2(d.astype(np.float64)), minlength=groups)
    if len(bits) and bits.max() >= 61:
        return None
    lcm = np.ones(groups, dtype=np.int64)
    if len(g):
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        lcm[g[starts]] = np.lcm.reduceat(d, starts)
    return lcm


def _group_sum_fractions(owner: npt.NDArray[np.int64], values: Ratio, groups: int) -> Ratio:
    """The rare case of denominators too large for int64: Python's exact integers.

    Reached only by formulas that sum, per account, a quotient by a large non-whole
    divisor (a balance, say); the reference formulas never do.
    """
    nums = _full(values.num, len(owner)).to_pylist()
    dens = _full(values.den, len(owner)).to_pylist()
    totals = [Fraction(0)] * groups
    for g, n, d in zip(owner.tolist(), nums, dens, strict=True):
        totals[g] += Fraction(n) / int(d)
    try:
        num = pa.array([Decimal(t.numerator) for t in totals], pa.decimal256(MAX_PRECISION, 0))
        den = pa.array([Decimal(t.denominator) for t in totals], pa.decimal256(MAX_PRECISION, 0))
    except (pa.ArrowInvalid, OverflowError) as exc:
        raise OverflowError(f"a sum is too large for exact decimal arithmetic: {exc}") from exc
    return Ratio(tight(num), _whole(den))


def _reinterpret(x: Column, scale: int) -> pa.Array:
    """The same unscaled integers read with `scale` decimals (whole fen -> yuan)."""
    array = _array(x)
    precision = max(array.type.precision, scale + 1)
    array = array.cast(pa.decimal256(precision, 0))
    return pa.Array.from_buffers(
        pa.decimal256(precision, scale), len(array), array.buffers(), offset=array.offset
    )


def round_fen(value: Ratio, length: int) -> pa.Array:
    """num / den rounded once to two decimals, half away from zero, exactly (decimal256).

    With w / d the value as whole numbers (w = num's unscaled integers), the fen are
    q = trunc(100 |w| / d) plus one where the remainder r = 100 |w| - q d has 2 r >= d:
    a tie (2 r == d) is recognised exactly and goes away from zero.
    """
    num = _full(value.num, length)
    if _is_one(value.den):
        return pc.round(num, ndigits=2, round_mode="half_towards_infinity")
    whole, scale = _unscaled(num)  # value = whole / (10**scale * den)
    if isinstance(value.den, int):
        den: Den = value.den * 10**scale
    else:
        den = _whole(mul(value.den, 10**scale)) if scale else value.den
    divisor = _operand(den)
    hundredfold = tight(mul(pc.abs(whole), 100))
    if _ps(hundredfold)[0] + _ps(divisor)[0] + 1 > MAX_PRECISION:
        return _round_fen_python(whole, den, length)
    quotient = pc.round(pc.divide(hundredfold, divisor), ndigits=0, round_mode="towards_zero")
    quotient = tight(quotient.cast(pa.decimal256(quotient.type.precision, 0)))
    remainder = add(hundredfold, mul(quotient, den), "-")
    # Arrow's decimal division truncates; one correction step makes 0 <= r < d certain.
    low = pc.less(remainder, _int_scalar(0))
    high = pc.greater_equal(*common(remainder, divisor))
    one, none, minus = _int_scalar(1), _int_scalar(0), _int_scalar(-1)
    step = pc.if_else(low, minus, pc.if_else(high, one, none))
    quotient = add(quotient, step)
    remainder = add(remainder, mul(step, den), "-")
    up = pc.greater_equal(*common(mul(remainder, 2), divisor))
    fen = add(quotient, pc.if_else(up, one, none))
    signed = pc.if_else(pc.less(whole, _int_scalar(0)), *common(pc.negate(fen), fen))
    return _reinterpret(signed, 2)


def _round_fen_python(whole: pa.Array, den: Den, length: int) -> pa.Array:
    """The rare case of numbers too wide for one Arrow division: Python's exact integers.

    Reached by formulas that divide by aggregates and add many such quotients; the
    result is the same as the vectorized path's, only slower.
    """
    dens = [int(den)] * length if isinstance(den, int) else [int(d) for d in den.to_pylist()]
    fen = []
    for w, d in zip(whole.to_pylist(), dens, strict=True):
        q, r = divmod(abs(int(w)) * 100, d)
        q += 2 * r >= d
        fen.append(Decimal(-q if w < 0 else q).scaleb(-2))
    return pa.array(fen, pa.decimal256(MAX_PRECISION, 2))
