"""The `.ok` flag file: `{data file name}|{bytes}|{record count}|{control sum}` + LF, and
the one comparison of what was observed of a data file with what its flag says.

Every place that holds a file against its flag (landing, the fetched-file verification,
ingestion) calls `check_against_flag` with what it has seen, so the rule and its messages
are written once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from common.errors import FileRejected


@dataclass(frozen=True)
class Flag:
    """What the sending system says of a data file it has finished writing."""

    data_file: str
    size: int
    records: int
    control_sum: Decimal

    def text(self) -> str:
        """The flag as one line: what a run's identity compares (a re-sent file)."""
        return f"{self.data_file}|{self.size}|{self.records}|{self.control_sum}"


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


def check_against_flag(
    file: str,
    flag: Flag,
    *,
    name: str | None = None,
    size: int | None = None,
    records: int | None = None,
    control_sum: Decimal | None = None,
) -> None:
    """Raise FileRejected (naming `file`) at the first observation that disagrees with
    `flag`, in this order: the data file's name, its bytes, its records, its control sum.
    An observation not given (None) is not checked: the size is known before a file is
    read, the records and control sum only once it has been read through its layout."""
    if name is not None and flag.data_file != name:
        raise FileRejected(file, f"flag names another file: {flag.data_file}")
    if size is not None and size != flag.size:
        raise FileRejected(file, f"{size} bytes, flag says {flag.size} (truncated or corrupt)")
    if records is not None and records != flag.records:
        raise FileRejected(file, f"{records} records, flag says {flag.records}")
    if control_sum is not None and control_sum != flag.control_sum:
        raise FileRejected(file, f"control sum {control_sum}, flag says {flag.control_sum}")


def read_checker(file: str, flag: Flag) -> Callable[[int, Decimal], None]:
    """The check of a file's records and control sum, once read, against its flag: what
    ingestion (`transform.ingest.ingest_file`'s `check`) calls before it stages anything."""

    def check(records: int, control_sum: Decimal) -> None:
        check_against_flag(file, flag, records=records, control_sum=control_sum)

    return check
