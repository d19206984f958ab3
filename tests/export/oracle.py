"""An independent reading of export files and of the warehouse rows they must hold.

The files are parsed back into Python values column by column (Decimal, int, date, bool)
and compared with the rows SQLAlchemy reads, sorted here in Python (identifiers as bytes),
not with the export's own formatting or SQL ordering.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from load.tables import metadata

KINDS: dict[str, Any] = {
    "int": int,
    "money": Decimal,
    "cny": Decimal,
    "bool": lambda text: {"Y": True, "N": False}[text],
    "date": lambda text: datetime.strptime(text, "%Y%m%d").date(),
    "timestamp": lambda text: datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
    "text": str,
}


def parse_file(path: Path, kinds: list[str]) -> list[tuple[Any, ...]]:
    """The records of an export file as Python values (empty field = None)."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path}: last line not LF-terminated"
    rows = []
    for line in data.decode("utf-8").split("\n")[:-1]:
        fields = line.split("|")
        assert len(fields) == len(kinds), f"{path}: {line!r}"
        rows.append(
            tuple(None if f == "" else KINDS[k](f) for f, k in zip(fields, kinds, strict=True))
        )
    return rows


def _sort_key(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else value


def warehouse_rows(
    engine: Engine, table: str, columns: list[str], key: list[str], province: str
) -> list[tuple[Any, ...]]:
    """The province's rows, sorted by `key` in Python, text compared as UTF-8 bytes."""
    t = metadata.tables[table]
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(*(t.c[c] for c in columns))
                                                .where(t.c.province == province))]  # fmt: skip
    positions = [columns.index(k) for k in key]
    return sorted(rows, key=lambda r: tuple(_sort_key(r[p]) for p in positions))


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()
