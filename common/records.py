"""The contract between the byte-level readers (`extract.records`) and the typer
(`transform.fields`): a chunk of a dump file's lines as raw string columns, with the lines
set aside for their structure.

Why here: reading bytes into records is extraction, typing them is processing (Spring
Batch's reader / processor split). Both sides need these definitions and neither may
import the other, so they live in the bottom layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

from common.amounts import control_sum
from common.config import Layout

_CODEC = {"gb18030": "gb18030", "utf-8": "utf-8"}

# The raw text of a few lines of a landed file: (path, 1-based line numbers, its layout)
# -> {line: text as sent}. `extract.lines.raw_lines` is the implementation; transform
# receives it as a parameter, so that it never reads a dump file itself.
RawLines = Callable[[Path, set[int], Layout], dict[int, str]]


def codec_of(encoding: str) -> str:
    """Python's codec name for a layout's `encoding`."""
    return _CODEC[encoding]


def printable(text: str) -> str:
    """A line's text with its NUL bytes shown as \\x00: a NUL is not a character a
    warehouse text column takes (PostgreSQL refuses it), nor one an operator can see."""
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def escape(raw: bytes, encoding: str) -> str:
    """Bytes of a line as text, undecodable bytes shown as \\xNN escapes (NUL too)."""
    return printable(raw.decode(codec_of(encoding), errors="backslashreplace"))


@dataclass(frozen=True)
class StructuralReject:
    """A line set aside before typing: wrong byte length, line end or field count."""

    line: int
    raw: str
    reason: str


@dataclass
class RawChunk:
    """The structurally sound lines of one chunk as string columns (not yet typed)."""

    columns: dict[str, pa.Array]  # field name -> string array (fixed width: padding kept)
    lines: np.ndarray  # int64 line numbers (1-based) of the rows of `columns`
    # Each row's line as sent: a string array (delimited, already decoded), or the (rows,
    # width) byte matrix of a fixed-width chunk, decoded only for the rows that are set
    # aside (`raw_text`), since they are a handful among millions.
    raw: pa.Array | np.ndarray
    undecodable: np.ndarray  # bool per row: bytes that do not decode (set aside later, but
    # the row still counts in the control sum: its control field is intact)
    rejects: list[StructuralReject]
    read: int  # lines in the chunk, sound or not
    encoding: str = "utf-8"  # of `raw` when it is a byte matrix
    # Row -> the first field holding a NUL byte: the row is set aside by the typer (`nul
    # byte`), but like an undecodable row it still counts in the control sum. Rare: empty
    # unless the chunk's bytes hold a NUL at all.
    nul_fields: dict[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, layout: Layout) -> RawChunk:
        """A chunk of no lines (an empty file), with the layout's columns."""
        return cls(
            {f.name: pa.array([], pa.string()) for f in layout.fields},
            np.empty(0, np.int64),
            pa.array([], pa.string()),
            np.zeros(0, bool),
            [],
            0,
        )

    @property
    def rows(self) -> int:
        return len(self.lines)

    def raw_text(self, row: int) -> str:
        """Row `row`'s line as sent: decoded, undecodable bytes escaped (\\xNN)."""
        if isinstance(self.raw, np.ndarray):
            return escape(self.raw[row].tobytes(), self.encoding)
        return printable(str(self.raw[row].as_py()))

    def control_sum(self, layout: Layout) -> Decimal:
        """The chunk's share of the file's control sum (core-dumps.md section 8): the sum of
        the well-formed amounts of the layout's control column over the sound lines, 0.00
        when the layout has none. The flag check and the typer both use this one."""
        spec = next((f for f in layout.fields if f.name == layout.control), None)
        if spec is None:
            return Decimal("0.00")
        return control_sum(self.columns[spec.name], spec)
