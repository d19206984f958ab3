"""Writing record tables as dump files exactly as core-dumps.md lays them out.

Good records are rendered in bulk from a table (vectorized, chunk by chunk); the few
injected lines (bad records, duplicates) arrive as ready-made bytes with the position
they go to. The writer also computes what the `.ok` flag must say, applying the control-sum
rule of core-dumps.md section 8 to the injected lines one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.config import Layout
from crm_pipeline.sample.amounts import fen, format_fen
from crm_pipeline.sample.columns import (
    RIGHT_ALIGNED,
    ByteMatrix,
    Column,
    Num,
    Table,
    render,
    table_len,
    take_table,
)

CHUNK_ROWS = 200_000
_AMOUNT = re.compile(rb"-?[0-9]+\.[0-9]{2}")
_SPACE, _PIPE, _CR, _LF = 32, 124, 13, 10


def line_end(layout: Layout) -> bytes:
    return b"\r\n" if layout.line_end == "crlf" else b"\n"


def line_body(line: bytes, layout: Layout) -> bytes:
    """A line without its line end (a broken line may lack it)."""
    end = line_end(layout)
    return line[: -len(end)] if line.endswith(end) else line


def encoding_of(layout: Layout) -> str:
    return "gb18030" if layout.encoding == "gb18030" else "utf-8"


class FieldTooWide(ValueError):
    """A generated value does not fit its fixed-width field: a generator bug, never silent."""


def render_lines(table: Table, layout: Layout) -> bytes:
    """The table's records as file bytes, line ends included."""
    encoding = encoding_of(layout)
    n = table_len(table)
    if n == 0:
        return b""
    if layout.format == "fixed":
        return _fixed(table, layout, encoding, n)
    return _delimited(table, layout, encoding, n)


def _fixed(table: Table, layout: Layout, encoding: str, n: int) -> bytes:
    end = line_end(layout)
    width = layout.record_width
    out = np.full((n, width + len(end)), _SPACE, dtype=np.uint8)
    out[:, width:] = np.frombuffer(end, dtype=np.uint8)
    pos = 0
    for spec in layout.fields:
        col = table[spec.name]
        w = spec.width or 0
        m = render(col, encoding)
        used = m != 0
        # Trim padding columns on the side away from the alignment before fitting.
        right = isinstance(col, RIGHT_ALIGNED)
        nonempty = np.nonzero(used.any(axis=0))[0]
        if len(nonempty):
            m = m[:, nonempty[0] :] if right else m[:, : nonempty[-1] + 1]
        else:
            m = m[:, :0]
        if m.shape[1] > w:
            raise FieldTooWide(f"{spec.name}: a value needs {m.shape[1]} bytes, field has {w}")
        slot = out[:, pos + w - m.shape[1] : pos + w] if right else out[:, pos : pos + m.shape[1]]
        np.copyto(slot, m, where=m != 0)
        pos += w
    return out.tobytes()


def _delimited(table: Table, layout: Layout, encoding: str, n: int) -> bytes:
    end = line_end(layout)
    mats = [render(table[spec.name], encoding) for spec in layout.fields]
    total = sum(m.shape[1] for m in mats) + len(mats) - 1 + len(end)
    out = np.zeros((n, total), dtype=np.uint8)
    pos = 0
    for i, m in enumerate(mats):
        out[:, pos : pos + m.shape[1]] = m
        pos += m.shape[1]
        if i < len(mats) - 1:
            out[:, pos] = _PIPE
            pos += 1
    out[:, pos:] = np.frombuffer(end, dtype=np.uint8)
    flat: ByteMatrix = out[out != 0]
    return flat.tobytes()


def row_fields(table: Table, row: int, layout: Layout) -> list[bytes]:
    """One record's field values as bytes (unpadded): the raw material of injected lines."""
    one = take_table(table, np.array([row]))
    encoding = encoding_of(layout)
    return [bytes(render(one[s.name], encoding)[0]).replace(b"\0", b"") for s in layout.fields]


def assemble(fields: Sequence[bytes], layout: Layout) -> bytes:
    """A line from field bytes: padded to the layout's widths, or joined with ``|``.

    Fixed-width values longer than their field are kept whole (the line then has the wrong
    byte length): that is how injected lines get broken.
    """
    if layout.format == "delimited":
        return b"|".join(fields) + line_end(layout)
    parts = []
    for spec, value in zip(layout.fields, fields, strict=False):
        w = spec.width or 0
        right = spec.type in ("amount", "int")
        parts.append(value.rjust(w) if right else value.ljust(w))
    return b"".join(parts) + line_end(layout)


def control_value(line: bytes, layout: Layout) -> int:
    """The control column of one line in fen, per core-dumps.md section 8.

    A line whose control field is a well-formed amount counts it, whatever else is wrong
    with the line; a line too malformed to have the field (wrong field count or byte
    length) counts 0.
    """
    if layout.control is None:
        return 0
    body = line_body(line, layout)
    index = layout.field_names.index(layout.control)
    if layout.format == "fixed":
        if len(body) != layout.record_width:
            return 0
        start = sum(f.width or 0 for f in layout.fields[:index])
        value = body[start : start + (layout.fields[index].width or 0)].strip(b" ")
    else:
        parts = body.split(b"|")
        if len(parts) != len(layout.fields):
            return 0
        value = parts[index]
    return fen(value) if _AMOUNT.fullmatch(value) else 0


@dataclass(frozen=True)
class Injected:
    """A ready-made line placed before good record ``before`` (0-based, in the good table)."""

    before: int
    line: bytes
    reason: str | None  # set-aside category, None when the pipeline keeps it
    key: str
    field: str | None = None


@dataclass(frozen=True)
class Written:
    """What one data file holds: what its `.ok` says, and where each injected line landed."""

    path: Path
    size: int
    records: int
    control_sum: int  # fen
    good_lines: np.ndarray  # 1-based line number of each good record
    injected_lines: list[int]  # 1-based line number of each injected line, in input order


def write_flag(path: Path, size: int, records: int, control_sum: int) -> None:
    """The `.ok` beside a complete data file: name, bytes, records, control sum."""
    text = f"{path.name}|{size}|{records}|{format_fen(control_sum)}\n"
    path.with_suffix(".ok").write_text(text, encoding="ascii", newline="\n")


def _pieces(n: int, injected: Sequence[Injected]) -> Iterator[tuple[int, int] | Injected]:
    order = sorted(range(len(injected)), key=lambda i: injected[i].before)
    start = 0
    for i in order:
        cut = min(max(injected[i].before, 0), n)
        while start < cut:
            stop = min(cut, start + CHUNK_ROWS)
            yield (start, stop)
            start = stop
        yield injected[i]
    while start < n:
        stop = min(n, start + CHUNK_ROWS)
        yield (start, stop)
        start = stop


def write_data_file(
    path: Path, table: Table, layout: Layout, injected: Sequence[Injected] = ()
) -> Written:
    """Write ``table`` (good records) with ``injected`` lines spliced in, then its `.ok`.

    The flag is written last, after the data file is complete, as the core systems do.
    """
    n = table_len(table)
    control = 0
    if layout.control is not None and n:
        col: Column = table[layout.control]
        assert isinstance(col, Num) and col.scale == 2, "control column must be an amount"
        control = int(col.values.sum(dtype=np.int64))
    good_lines = np.zeros(n, dtype=np.int64)
    injected_lines = [0] * len(injected)
    index_of = {id(inj): i for i, inj in enumerate(injected)}
    line_no = 0
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for piece in _pieces(n, injected):
            if isinstance(piece, Injected):
                line_no += 1
                injected_lines[index_of[id(piece)]] = line_no
                control += control_value(piece.line, layout)
                handle.write(piece.line)
                size += len(piece.line)
                continue
            start, stop = piece
            data = render_lines(take_table(table, slice(start, stop)), layout)
            good_lines[start:stop] = np.arange(line_no + 1, line_no + 1 + stop - start)
            line_no += stop - start
            handle.write(data)
            size += len(data)
    write_flag(path, size, line_no, control)
    return Written(path, size, line_no, control, good_lines, injected_lines)


def write_lines(path: Path, lines: Sequence[bytes], layout: Layout) -> dict[str, Any]:
    """Write a data file from ready lines, then its `.ok`; what the flag says, for a manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(lines)
    control = sum(control_value(line, layout) for line in lines)
    path.write_bytes(data)
    write_flag(path, len(data), len(lines), control)
    return {"records": len(lines), "bytes": len(data), "control_sum": format_fen(control)}
