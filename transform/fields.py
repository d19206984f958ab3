"""Raw string columns -> typed Arrow columns, with the records that fail set aside.

A record is set aside for the first field that fails its type (date, amount, whole number)
or its code set (core-dumps.md section 7), with the field named in the reason. Checks are
Arrow kernels over whole columns; Python only formats the messages of the rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crm_pipeline.config import FieldSpec, Layout, LayoutConfig
from transform.parse import RawChunk


@dataclass(frozen=True)
class FieldReject:
    line: int
    raw: str
    reason: str
    field: str | None


@dataclass
class TypedChunk:
    table: pa.Table  # typed columns named by the layout's fields, plus `line` (int64)
    rejects: list[FieldReject]
    control_sum: Decimal  # over every sound row whose control field is a well-formed amount
    keys: pa.Table  # key columns + line of every sound row (for the file's duplicate check)


def _amount_pattern(spec: FieldSpec) -> str:
    decimals = f"{{1,{spec.scale}}}" if spec.max_scale else f"{{{spec.scale}}}"
    return rf"^-?[0-9]{{1,18}}\.[0-9]{decimals}$"


def amount_type(spec: FieldSpec) -> pa.DataType:
    return pa.decimal128(20 if spec.scale <= 2 else 12 + spec.scale, spec.scale)


def well_formed_amounts(values: pa.Array, spec: FieldSpec) -> pa.Array:
    """Boolean mask of the values that are amounts as the layout defines them."""
    return pc.fill_null(pc.match_substring_regex(values, _amount_pattern(spec)), False)


def control_sum(raw_values: pa.Array, spec: FieldSpec) -> Decimal:
    """Sum of the well-formed amounts of a control column (core-dumps.md section 8)."""
    values = pc.utf8_trim(raw_values, " ")
    ok = well_formed_amounts(values, spec)
    total = pc.sum(pc.cast(pc.filter(values, ok), pa.decimal128(38, spec.scale))).as_py()
    return Decimal(total) if total is not None else Decimal("0.00")


def _prepare(values: pa.Array, spec: FieldSpec, layout: Layout) -> pa.Array:
    """Strip padding: text is left-aligned (trailing spaces are not data), numbers right."""
    if spec.type == "text":
        return pc.utf8_rtrim(values, " ") if layout.format == "fixed" else values
    return pc.utf8_trim(values, " ")


def type_chunk(chunk: RawChunk, layout: Layout, codes: LayoutConfig) -> TypedChunk:
    n = chunk.rows
    first_bad = np.full(n, -1, dtype=np.int64)
    bad_value: dict[int, pa.Array] = {}
    reason_kind: dict[int, str] = {}
    typed: dict[str, pa.Array] = {}
    prepared: dict[str, pa.Array] = {}
    for j, spec in enumerate(layout.fields):
        values = _prepare(chunk.columns[spec.name], spec, layout)
        prepared[spec.name] = values
        out, valid, kind = _type_column(values, spec, codes)
        typed[spec.name] = out
        invalid = ~np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
        newly = invalid & (first_bad < 0)
        if newly.any():
            first_bad[newly] = j
            bad_value[j] = values
            reason_kind[j] = kind
    total = Decimal("0.00")
    if layout.control:
        spec = next(f for f in layout.fields if f.name == layout.control)
        total = control_sum(chunk.columns[spec.name], spec)
    undecodable = chunk.undecodable
    rejected = (first_bad >= 0) | undecodable
    rejects: list[FieldReject] = []
    for i in np.flatnonzero(rejected):
        line = int(chunk.lines[i])
        raw = chunk.raw_text(int(i))
        if undecodable[i]:
            rejects.append(FieldReject(line, raw, "undecodable bytes", None))
            continue
        j = int(first_bad[i])
        spec = layout.fields[j]
        value = bad_value[j][int(i)].as_py()
        rejects.append(
            FieldReject(line, raw, f"{reason_kind[j]}: {spec.name}={value!r}", spec.name)
        )
    keep = pa.array(~rejected)
    table = pa.table({**typed, "line": pa.array(chunk.lines, pa.int64())}).filter(keep)
    keys = pa.table(
        {**{k: prepared[k] for k in layout.key}, "line": pa.array(chunk.lines, pa.int64())}
    )
    return TypedChunk(table, rejects, total, keys)


def _type_column(
    values: pa.Array, spec: FieldSpec, codes: LayoutConfig
) -> tuple[pa.Array, pa.Array, str]:
    """(typed values, validity mask, reason kind) for one column."""
    empty = pc.equal(values, "")
    if spec.type == "text":
        typed = pc.if_else(empty, pa.scalar(None, pa.string()), values)
        valid = pc.invert(empty) if spec.required else pa.array(np.ones(len(values), bool))
        return typed, valid, "missing value"
    if spec.type == "code":
        mapping = codes.code_values(spec.codes or "")
        keys = pa.array(list(mapping.keys()), pa.string())
        index = pc.index_in(values, value_set=keys)
        typed = pc.take(pa.array(list(mapping.values()), pa.string()), index)
        return typed, pc.is_valid(index), "unknown code"
    if spec.type == "date":
        unknown = pc.or_(empty, pc.equal(values, "00000000"))
        digits = pc.match_substring_regex(values, r"^[0-9]{8}$")
        parsed = pc.strptime(
            pc.if_else(digits, values, pa.scalar(None, pa.string())),
            format="%Y%m%d",
            unit="s",
            error_is_null=True,
        )
        dates = pc.cast(parsed, pa.date32())
        # strptime accepts some impossible dates (20260230): a round trip rejects them.
        round_trip = pc.equal(pc.strftime(parsed, format="%Y%m%d"), values)
        valid = pc.or_(unknown, pc.fill_null(round_trip, False))
        typed = pc.if_else(pc.or_(unknown, pc.invert(valid)), pa.scalar(None, pa.date32()), dates)
        return typed, valid, "impossible date"
    if spec.type == "amount":
        ok = well_formed_amounts(values, spec)
        cleaned = pc.if_else(ok, values, pa.scalar("0", pa.string()))
        return pc.cast(cleaned, amount_type(spec)), ok, "not an amount"
    # int
    ok = pc.fill_null(pc.match_substring_regex(values, r"^-?[0-9]{1,9}$"), False)
    cleaned = pc.if_else(ok, values, pa.scalar("0", pa.string()))
    return pc.cast(cleaned, pa.int32()), ok, "not a whole number"
