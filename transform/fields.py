"""Raw string columns (`common.records.RawChunk`, from `extract.records`) -> typed Arrow
columns, with the records that fail set aside.

A record is set aside for the first field that fails its type (date, amount, whole number)
or its code set (core-dumps.md section 7), with the field named in the reason; before that,
for a NUL byte (`nul byte: FIELD`, the first field holding one) or undecodable bytes. Checks are
Arrow kernels over whole columns; Python only formats the messages of the rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.amounts import well_formed_amounts
from common.config import FieldSpec, Layout, LayoutConfig
from common.records import RawChunk


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


def amount_type(spec: FieldSpec) -> pa.DataType:
    return pa.decimal128(20 if spec.scale <= 2 else 12 + spec.scale, spec.scale)


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
    total = chunk.control_sum(layout)
    undecodable = chunk.undecodable
    rejected = (first_bad >= 0) | undecodable
    if chunk.nul_fields:
        rejected[np.fromiter(chunk.nul_fields, np.int64)] = True
    rejects: list[FieldReject] = []
    for i in np.flatnonzero(rejected):
        line = int(chunk.lines[i])
        raw = chunk.raw_text(int(i))
        nul_field = chunk.nul_fields.get(int(i))
        if nul_field is not None:  # before any other reason: the bytes are not text at all
            rejects.append(FieldReject(line, raw, f"nul byte: {nul_field}", nul_field))
            continue
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
        if spec.max_length is None:
            return typed, valid, "missing value"
        short = pc.less_equal(pc.utf8_length(values), spec.max_length)
        kind = f"longer than {spec.max_length} characters"
        return typed, pc.and_(valid, short), ("missing or " + kind) if spec.required else kind
    if spec.type == "code":
        mapping = codes.code_values(spec.codes or "")
        keys = pa.array(list(mapping.keys()), pa.string())
        index = pc.index_in(values, value_set=keys)
        typed = pc.take(pa.array(list(mapping.values()), pa.string()), index)
        return typed, pc.is_valid(index), "unknown code"
    if spec.type == "date":
        return (*_type_dates(values), "impossible date")
    if spec.type == "amount":
        ok = well_formed_amounts(values, spec)
        cleaned = pc.if_else(ok, values, pa.scalar("0", pa.string()))
        return pc.cast(cleaned, amount_type(spec)), ok, "not an amount"
    # int
    ok = pc.fill_null(pc.match_substring_regex(values, r"^-?[0-9]{1,9}$"), False)
    cleaned = pc.if_else(ok, values, pa.scalar("0", pa.string()))
    return pc.cast(cleaned, pa.int32()), ok, "not a whole number"


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _type_dates(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """YYYYMMDD strings -> (date32, valid): empty and 00000000 are unknown (null, valid);
    anything else must be 8 ASCII digits naming a real day of the Gregorian calendar.

    Done with numpy over the 8 bytes of each value (digits, month, days in the month with
    leap years, days since 1970 by the civil-from-days arithmetic): no string parsing or
    formatting kernels, which cost about a microsecond per value.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.fill_null("")
    if values.type != pa.string():
        values = values.cast(pa.string())
    n = len(values)
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    days = np.zeros(n, dtype=np.int32)
    ok = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(lengths == 8)
    unknown = lengths == 0
    if len(rows):
        subset = values.take(pa.array(rows)) if len(rows) < n else values
        _, offsets_buf, data_buf = subset.buffers()
        start = np.frombuffer(offsets_buf, np.int32)[subset.offset]
        data = np.frombuffer(data_buf, np.uint8)[start : start + 8 * len(rows)]
        digits = data.reshape(len(rows), 8).astype(np.int64) - 48
        is_digits = ((digits >= 0) & (digits <= 9)).all(axis=1)
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        month = digits[:, 4] * 10 + digits[:, 5]
        day = digits[:, 6] * 10 + digits[:, 7]
        zero = is_digits & (year == 0) & (month == 0) & (day == 0)
        unknown[rows[zero]] = True
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        good_month = (month >= 1) & (month <= 12)
        last_day = _DAYS_IN_MONTH[np.where(good_month, month, 0)] + (leap & (month == 2))
        real = is_digits & good_month & (day >= 1) & (day <= last_day)
        ok[rows] = real
        # days from civil (H. Hinnant): proleptic Gregorian, day 0 = 1970-01-01
        y = year - (month <= 2)
        era = np.floor_divide(y, 400)
        yoe = y - era * 400
        mp = (month + 9) % 12
        doy = (153 * mp + 2) // 5 + day - 1
        doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
        days[rows] = np.where(real, era * 146097 + doe - 719468, 0).astype(np.int32)
    typed = pa.Array.from_buffers(
        pa.date32(), n, [pa.array(ok).buffers()[1], pa.py_buffer(days)], null_count=-1
    )
    return typed, pa.array(ok | unknown)
