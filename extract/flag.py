"""The `.ok` flag file: `{data file name}|{bytes}|{record count}|{control sum}` + LF."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from common.errors import FileRejected


@dataclass(frozen=True)
class Flag:
    data_file: str
    size: int
    records: int
    control_sum: Decimal


def parse_flag(text: str, where: str) -> Flag:
    """Parse a flag's content; `where` names the flag file in error messages."""
    line = text.rstrip("\n")
    parts = line.split("|")
    if len(parts) != 4 or "\n" in line:
        raise FileRejected(where, f"flag is not 'name|bytes|records|control sum': {text!r}")
    name, size, records, control = parts
    try:
        flag = Flag(name, int(size), int(records), Decimal(control))
    except (ValueError, InvalidOperation) as exc:
        raise FileRejected(where, f"flag has a non-numeric value: {text!r}") from exc
    if flag.size < 0 or flag.records < 0 or flag.control_sum.as_tuple().exponent != -2:
        raise FileRejected(
            where, f"flag values out of range or control sum not 2 decimals: {text!r}"
        )
    return flag


def read_flag(ok_path: Path) -> Flag:
    return parse_flag(ok_path.read_text(encoding="ascii", errors="replace"), str(ok_path))


def flag_path(data_path: Path) -> Path:
    return data_path.with_suffix(".ok")
