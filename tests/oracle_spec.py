"""The oracle's reading of the dumps: the contract's constants, records by bytes, typed
values, `.ok` flags and FX rates (tests/oracle.py, its entry points)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, Inexact
from fractions import Fraction
from pathlib import Path

from common.config import FieldSpec, Layout, layouts

# --- the contract's constants (reference-formulas.md) -----------------------------------

# province: (personal threshold, corporate threshold, RTL export filter), CNY
PROVINCE_VALUES: dict[str, tuple[int, int, int]] = {
    "ZJ": (500_000, 5_000_000, 50_000),
    "JS": (500_000, 5_000_000, 50_000),
    "GD": (800_000, 8_000_000, 100_000),
    "SD": (300_000, 3_000_000, 30_000),
    "BJ": (1_000_000, 10_000_000, 50_000),
}
FUND_COEF: dict[str, Fraction] = {"GD": Fraction(3, 2)}  # 2 elsewhere
SYSTEMS = ("RTL", "CRD", "LON", "FND")
ACCOUNT_ENTITY = {"RTL": "ACCT", "CRD": "ACCT", "LON": "ACCT", "FND": "HOLD"}
CRD_ID_TYPES = {
    "I": "01",
    "R": "02",
    "P": "03",
    "M": "04",
    "H": "05",
    "T": "06",
    "F": "07",
    "O": "21",
    "B": "22",
    "U": "23",
    "X": "99",
}


EXACT = Context(prec=100, traps=[Inexact])


def exact_cny(amount: Decimal, cny_per_100: Decimal) -> Decimal:
    """`amount` in CNY, exactly (2 decimals x up to 4 decimals / 100: never rounded)."""
    return EXACT.divide(EXACT.multiply(amount, cny_per_100), Decimal(100))


def province_values(province: str) -> tuple[int, int, int]:
    return PROVINCE_VALUES.get(province, PROVINCE_VALUES["ZJ"])


# --- lines and fields --------------------------------------------------------------------


def split_lines(data: bytes) -> list[bytes]:
    """The file's lines, each with its terminator (a last line without one is a line)."""
    if not data:
        return []
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class SetAside(Exception):
    """A record that cannot be trusted as a whole; `reason` is a manifest category."""

    def __init__(self, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field_name


def raw_fields(line: bytes, layout: Layout) -> list[str]:
    """Decoded, untyped field values of a line, or SetAside for a structural problem."""
    crlf = layout.line_end == "crlf"
    if crlf:
        if not line.endswith(b"\r\n"):
            body = line.rstrip(b"\n")
            if len(body) == layout.record_width:
                raise SetAside("line_end")
            raise SetAside("byte_length")
        body = line[:-2]
    else:
        body = line[:-1] if line.endswith(b"\n") else line
    if layout.format == "fixed":
        if len(body) != layout.record_width:
            raise SetAside("byte_length")
        values, pos = [], 0
        for spec in layout.fields:
            width = spec.width or 0
            try:
                values.append(body[pos : pos + width].decode(layout.encoding))
            except UnicodeDecodeError:
                raise SetAside("decode", spec.name) from None
            pos += width
        return values
    try:
        text = body.decode(layout.encoding)
    except UnicodeDecodeError:
        raise SetAside("decode") from None
    values = text.split("|")
    if len(values) != len(layout.fields):
        raise SetAside("field_count")
    return values


def amount_pattern(spec: FieldSpec) -> re.Pattern[str]:
    decimals = f"{{1,{spec.scale}}}" if spec.max_scale else f"{{{spec.scale}}}"
    return re.compile(rf"-?[0-9]+\.[0-9]{decimals}")


def parse_date(value: str) -> date | None:
    if value in ("", "00000000"):
        return None
    if not re.fullmatch(r"[0-9]{8}", value):
        raise ValueError(value)
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def typed_record(values: list[str], layout: Layout) -> dict[str, object]:
    """Typed values by field name; SetAside for the first field (layout order) that fails."""
    config = layouts()
    out: dict[str, object] = {}
    for spec, value in zip(layout.fields, values, strict=True):
        if spec.type == "text":
            text = value.rstrip(" ") if layout.format == "fixed" else value
            if spec.required and text == "":
                raise SetAside("required", spec.name)
            if spec.max_length is not None and len(text) > spec.max_length:
                raise SetAside("too_long", spec.name)
            out[spec.name] = text
            continue
        value = value.strip(" ")
        if spec.type == "code":
            codes = config.code_values(spec.codes or "")
            if value not in codes:
                raise SetAside("code", spec.name)
            out[spec.name] = codes[value]
        elif spec.type == "date":
            try:
                out[spec.name] = parse_date(value)
            except ValueError:
                raise SetAside("date", spec.name) from None
        elif spec.type == "amount":
            if not amount_pattern(spec).fullmatch(value):
                raise SetAside("amount", spec.name)
            out[spec.name] = Decimal(value)
        else:  # int
            if not re.fullmatch(r"-?[0-9]+", value):
                raise SetAside("int", spec.name)
            out[spec.name] = int(value)
    return out


def control_value(line: bytes, layout: Layout) -> Decimal:
    """The line's contribution to the flag's control sum (0 when too malformed)."""
    if layout.control is None:
        return Decimal("0.00")
    spec = next(f for f in layout.fields if f.name == layout.control)
    try:
        values = raw_fields(line, layout)
    except SetAside as problem:
        if problem.reason != "decode" or layout.format != "fixed":
            return Decimal("0.00")
        # A fixed-width line of the right length: its control field is still where it is.
        body = line[:-2]
        start = sum(f.width or 0 for f in layout.fields[: layout.fields.index(spec)])
        raw = body[start : start + (spec.width or 0)]
        try:
            values = [""] * len(layout.fields)
            values[layout.fields.index(spec)] = raw.decode("ascii")
        except UnicodeDecodeError:
            return Decimal("0.00")
    value = values[layout.fields.index(spec)].strip(" ")
    return Decimal(value) if amount_pattern(spec).fullmatch(value) else Decimal("0.00")


def flag_for(path: Path, layout: Layout) -> str:
    """The `.ok` content a data file should have (core-dumps.md sections 3 and 8)."""
    data = path.read_bytes()
    lines = split_lines(data)
    control = sum((control_value(line, layout) for line in lines), Decimal("0.00"))
    return f"{path.name}|{len(data)}|{len(lines)}|{control:.2f}\n"


# --- files -------------------------------------------------------------------------------


@dataclass
class Line:
    """One line of a file and what became of it."""

    file: str  # data file name
    branch: str
    number: int  # 1-based
    record: dict[str, object] | None = None
    key: str | None = None
    set_aside: str | None = None  # reason category
    field: str | None = None
    filtered: bool = False


@dataclass
class FileResult:
    name: str
    path: Path
    branch: str
    system: str
    entity: str
    layout: Layout
    lines: list[Line]
    flag_ok: bool = True
    flag_problem: str = ""
    flagged: int = 0

    @property
    def read(self) -> int:
        return len(self.lines)

    @property
    def set_aside(self) -> int:
        return sum(1 for line in self.lines if line.set_aside)

    @property
    def filtered(self) -> int:
        return sum(1 for line in self.lines if line.filtered)

    @property
    def kept(self) -> int:
        return sum(1 for line in self.lines if not line.set_aside and not line.filtered)

    def counts(self) -> tuple[int, int, int, int, int]:
        return (self.read, self.kept, self.set_aside, self.filtered, self.flagged)

    def kept_lines(self) -> list[Line]:
        return [line for line in self.lines if not line.set_aside and not line.filtered]


def read_file(path: Path, branch: str, system: str, entity: str) -> FileResult:
    """Every line of one data file, typed or set aside; file-internal duplicate keys."""
    layout = layouts().layout_for(system, entity)
    data = path.read_bytes()
    raw_lines = split_lines(data)
    result = FileResult(path.name, path, branch, system, entity, layout, [])
    key_index = layout.field_names.index(layout.key[0])
    keys: dict[str, int] = {}
    for number, raw in enumerate(raw_lines, 1):
        line = Line(path.name, branch, number)
        try:
            values = raw_fields(raw, layout)
        except SetAside as problem:
            line.set_aside, line.field = problem.reason, problem.field
        else:
            # The key of a structurally sound line counts for duplicates, typed or not.
            key_spec = layout.fields[key_index]
            key = values[key_index]
            line.key = key.rstrip(" ") if key_spec.type == "text" else key.strip(" ")
            keys[line.key] = keys.get(line.key, 0) + 1
            try:
                line.record = typed_record(values, layout)
            except SetAside as problem:
                line.set_aside, line.field = problem.reason, problem.field
        result.lines.append(line)
    for line in result.lines:
        if line.key is not None and keys[line.key] > 1 and not line.set_aside:
            line.set_aside = "duplicate_key"
    flag_text = path.with_suffix(".ok").read_text(encoding="ascii")
    expected = flag_for(path, layout)
    if flag_text != expected:
        result.flag_ok = False
        result.flag_problem = f"{path.name}: flag {flag_text!r}, file gives {expected!r}"
    return result


def read_rates(landing: Path, day: str) -> dict[str, Decimal]:
    """CNY per 100 units of each currency on `day`; CNY itself is 100."""
    path = landing / day / f"FXR_RATE_{day}.dat"
    result = read_file(path, "", "FXR", "RATE")
    if not result.flag_ok or result.set_aside:
        raise ValueError(f"FX file not usable: {result.flag_problem or 'bad records'}")
    rates = {"CNY": Decimal(100)}
    for line in result.lines:
        assert line.record is not None
        rates[str(line.record["currency"])] = Decimal(str(line.record["cny_per_100"]))
    return rates
