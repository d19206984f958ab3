"""Bad records, injected in small numbers next to the bulk of good ones.

Every injected line starts as a good record rendered by the same builders and writer, then
one thing is broken on purpose. What is broken, and what the pipeline must do with it
(core-dumps.md section 7), is recorded for the manifest:

- set aside: ``field_count`` / ``byte_length``, ``decode``, ``date``, ``amount``, ``int``,
  ``code``, ``duplicate_key`` (both copies), ``orphan``;
- kept but flagged: identification numbers with a wrong check character;
- filtered: RTL accounts under the export filter that were sent anyway.

Lines broken structurally (field count, byte length, undecodable bytes) carry a control
amount of ``0.00``: whether a reader counts such a line's control field or not, the control
sum of the `.ok` is the same, so the sample never depends on how "too malformed" is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from common.config import Layout, LayoutConfig
from crm_pipeline.sample.columns import cell_text
from crm_pipeline.sample.ids import spoil_check
from crm_pipeline.sample.naming import CRD_LETTER, recode
from crm_pipeline.sample.report import Pending
from crm_pipeline.sample.writer import Injected, assemble, row_fields

# A value outside each code set (the file's own letters for CRD).
BAD_CODES = {
    "cust_type": b"X",
    "id_type": b"98",
    "crd_id_type": b"Z",
    "product": b"X",
    "status": b"Q",
    "gender": b"U",
    "currency": b"XYZ",
    "dc": b"Z",
    "action": b"Z",
}
BAD_VALUES = {
    "date": [b"20261332", b"20260230", b"2026013A"],
    "amount": [b"12O4.00", b"N/A", b"1,234.50", b"--5.00"],
    "int": [b"1Y", b"x", b"3.5"],
}
INVALID_BYTES = b"\xff"  # neither a GB18030 lead byte nor valid anywhere in UTF-8


@dataclass(frozen=True)
class Breakage:
    """One kind of damage: its reason category and the field it hits (if any)."""

    reason: str
    field: str | None = None


def breakages(layout: Layout) -> list[Breakage]:
    """Every kind of set-aside damage that applies to a layout, driven by its fields."""
    out = [Breakage("byte_length" if layout.format == "fixed" else "field_count")]
    text = [
        f.name for f in layout.fields if f.type == "text" and f.name not in (*layout.key, "cust_no")
    ]
    if text:
        out.append(Breakage("decode", text[0] if layout.role == "customer" else text[-1]))
    for spec in layout.fields:
        if spec.type in ("date", "amount", "int", "code"):
            out.append(Breakage(spec.type, spec.name))
    return out


def zero_control(fields: list[bytes], layout: Layout) -> None:
    if layout.control is not None:
        fields[layout.field_names.index(layout.control)] = b"0.00"


def break_line(
    fields: list[bytes], layout: Layout, config: LayoutConfig, damage: Breakage, variant: int
) -> bytes:
    """A record's fields with ``damage`` done, as a line of the file."""
    fields = list(fields)
    names = layout.field_names
    if damage.reason in ("byte_length", "field_count", "decode"):
        zero_control(fields, layout)
    if damage.reason == "field_count":
        fields = fields[:-1] if variant % 2 == 0 else [*fields, b"EXTRA"]
        return assemble(fields, layout)
    if damage.reason == "byte_length":
        line = assemble(fields, layout)
        end = len(line) - 2 if line.endswith(b"\r\n") else len(line) - 1
        return (
            line[: end - 3] + line[end:] if variant % 2 == 0 else line[:end] + b"XYZ" + line[end:]
        )
    assert damage.field is not None
    i = names.index(damage.field)
    spec = layout.fields[i]
    if damage.reason == "decode":
        value = fields[i][:2] + INVALID_BYTES + fields[i][2:]
        fields[i] = value[: spec.width] if spec.width else value
    elif damage.reason == "code":
        assert spec.codes is not None
        fields[i] = BAD_CODES.get(spec.codes, b"??")
        if spec.width:
            fields[i] = fields[i][: spec.width]
            if fields[i] in {c.encode() for c in config.code_values(spec.codes)}:
                fields[i] = b"?"
    else:
        choices = BAD_VALUES[damage.reason]
        value = choices[variant % len(choices)]
        if spec.width and len(value) > spec.width:
            value = value[: spec.width]
        fields[i] = value
    return assemble(fields, layout)


@dataclass
class Picker:
    """Draws distinct rows of a table for damage, in a seeded order."""

    rng: np.random.Generator
    eligible: npt.NDArray[np.bool_]
    _order: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows = np.nonzero(self.eligible)[0]
        self._order = [int(r) for r in self.rng.permutation(rows)]

    def take(self, accept: npt.NDArray[np.bool_] | None = None) -> int | None:
        for pos, row in enumerate(self._order):
            if accept is None or accept[row]:
                del self._order[pos]
                return row
        return None


def few(n: int) -> int:
    """How many of each kind of damage a file of ``n`` records gets: a few, more when big."""
    return 0 if n < 4 else 2 if n < 2_000 else 3 + n // 500_000


def replace_key(fields: list[bytes], layout: Layout, name: str, value: bytes) -> list[bytes]:
    fields = list(fields)
    fields[layout.field_names.index(name)] = value
    return fields


def break_records(
    layout: Layout, config: LayoutConfig, pending: Pending, picker: Picker, count: int
) -> set[int]:
    """Break ``count`` records per kind of damage; returns rows set aside (dropped or duplicated)."""
    table = pending.table
    gone: set[int] = set()
    kinds = breakages(layout)
    for variant in range(count):
        for kind in kinds:
            row = picker.take()
            if row is None:
                return gone
            fields = row_fields(table, row, layout)
            line = break_line(fields, layout, config, kind, variant)
            key = cell_text(table, layout.key[0], row)
            pending.injected.append(Injected(0, line, kind.reason, key, kind.field))
            pending.drop.add(row)
            gone.add(row)
        row = picker.take()
        if row is None:
            return gone
        fields = row_fields(table, row, layout)
        twin = list(fields)
        change = layout.control or (
            "mobile" if "mobile" in layout.field_names else layout.field_names[-1]
        )
        idx = layout.field_names.index(change)
        twin[idx] = b"1.00" if layout.control else twin[idx][::-1]
        key = cell_text(table, layout.key[0], row)
        pending.injected.append(Injected(0, assemble(twin, layout), "duplicate_key", key))
        pending.marks.append((row, "set_aside", {"reason": "duplicate_key", "key": key}))
        gone.add(row)
    return gone


def flag_ids(pending: Pending, system: str, picker: Picker, count: int) -> None:
    """Spoil the check character of a few clean identification numbers (kept, flagged)."""
    table = pending.table
    id_type = np.asarray(table["id_type"])
    id_no = np.asarray(table["id_no"])
    canon = recode(id_type, {v: k for k, v in CRD_LETTER.items()}) if system == "CRD" else id_type
    lengths = np.char.str_len(id_no.astype(str)) if len(id_no) else np.zeros(0, int)
    ascii_ok = (
        np.char.isalnum(np.char.replace(id_no.astype(str), "-", "")) if len(id_no) else lengths > 0
    )
    clean = ascii_ok & (
        ((canon == "01") & (lengths == 18)) | ((canon == "23") & (lengths == 18)) | (canon == "21")
    )
    if len(id_no):
        clean &= ~(id_no.astype(str).view(np.uint32).reshape(len(id_no), -1) >= 128).any(axis=1)
    for _ in range(count):
        row = picker.take(clean)
        if row is None:
            return
        new = spoil_check(str(id_no[row]), str(canon[row]))
        id_no[row] = new
        info = {"cust_no": cell_text(table, "cust_no", row), "id_type": str(id_type[row]),
                "id_no": new}  # fmt: skip
        pending.marks.append((row, "flagged", info))
