"""The export's record layouts (docs/export.md): which table each file holds, its columns
in order, how each value is written, the order of the rows, and the flag's control column.

The format is the core systems' own delimited convention (shared/spec/core-dumps.md
section 4), so the CRM side reads it with the reader it already has: UTF-8, one record
per LF-terminated line, fields joined by `|`, no header, no quoting. A value that would
break it (a `|`, CR or LF inside a text) is refused with the row's key, never altered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from common.errors import PipelineError

FORBIDDEN = ("|", "\n", "\r")


class ExportRefused(PipelineError):
    """The batch cannot be exported (not published, not the latest, a value unwritable)."""


@dataclass(frozen=True)
class ExportLayout:
    """One export file: `CRM_{entity}_{P}_{D}.dat`, the rows of `table`."""

    entity: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (column, kind); kinds: see FORMATS
    order: tuple[str, ...]  # a unique key: the rows' stable order
    control: str | None = None  # the money column summed into the flag's control sum

    def file_name(self, province: str, business_date: str) -> str:
        return f"CRM_{self.entity}_{province}_{business_date}.dat"

    @property
    def names(self) -> list[str]:
        return [name for name, _kind in self.columns]


def _text(value: str) -> str:
    if any(bad in value for bad in FORBIDDEN):
        raise ValueError("holds a '|' or a line break")
    return value


def _money(places: int) -> Callable[[Decimal], str]:
    quantum = Decimal(1).scaleb(-places)

    def write(value: Decimal) -> str:
        if value != value.quantize(quantum):
            raise ValueError(f"has more than {places} decimals")
        return f"{value:.{places}f}"

    return write


def _timestamp(value: datetime) -> str:
    """UTC, ISO 8601 with microseconds and `Z` (SQLite hands back naive UTC values)."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date(value: date) -> str:
    """YYYYMMDD, as the core systems write dates."""
    return value.strftime("%Y%m%d")


FORMATS: dict[str, Callable[[Any], str]] = {
    "text": _text,
    "int": lambda value: str(int(value)),
    "money": _money(2),  # balances and scores, 2 decimals
    "cny": _money(8),  # CNY equivalents, kept exact (docs/warehouse.md)
    "bool": lambda value: "Y" if value else "N",
    "date": _date,
    "timestamp": _timestamp,
}


BATCH = ExportLayout(
    "BATCH",
    "crm_load_batch",
    (("batch_id", "int"), ("business_date", "date"), ("province", "text"), ("mode", "text"),
     ("status", "text"), ("published_at", "timestamp"), ("customers", "int"),
     ("qualified", "int"), ("accounts", "int"), ("rejects", "int")),
    ("batch_id",),
)  # fmt: skip
CUSTOMER = ExportLayout(
    "CUST",
    "crm_customer",
    (("crm_cust_id", "int"), ("province", "text"), ("cust_type", "text"), ("name", "text"),
     ("id_type", "text"), ("id_no", "text"), ("id_valid", "bool"), ("master_source", "text"),
     ("master_cust_no", "text"), ("source_count", "int"), ("score", "money"),
     ("formula_id", "text"), ("qualified", "bool"), ("batch_id", "int"),
     ("first_batch_id", "int")),
    ("crm_cust_id",),
    control="score",
)  # fmt: skip
CUSTOMER_SOURCE = ExportLayout(
    "CUSTSRC",
    "crm_customer_source",
    (("crm_cust_id", "int"), ("province", "text"), ("source", "text"),
     ("source_cust_no", "text"), ("role", "text"), ("batch_id", "int")),
    ("crm_cust_id", "source", "source_cust_no"),
)  # fmt: skip
CONTACT = ExportLayout(
    "CONTACT",
    "crm_contact",
    (("crm_cust_id", "int"), ("province", "text"), ("source", "text"),
     ("source_cust_no", "text"), ("phone", "text"), ("mobile", "text"), ("address", "text"),
     ("postcode", "text"), ("batch_id", "int")),
    ("crm_cust_id", "source", "source_cust_no"),
)  # fmt: skip
ACCOUNT = ExportLayout(
    "ACCT",
    "crm_account",
    (("crm_cust_id", "int"), ("province", "text"), ("source", "text"), ("acct_no", "text"),
     ("source_cust_no", "text"), ("kind", "text"), ("currency", "text"), ("balance", "money"),
     ("balance_cny", "cny"), ("status", "text"), ("in_scope", "bool"), ("open_date", "date"),
     ("maturity_date", "date"), ("batch_id", "int")),
    ("crm_cust_id", "source", "acct_no"),
    control="balance",
)  # fmt: skip

#: The province's tables, in the order they are written and pushed; the batch file comes
#: last, so its flag is the last to appear on the server: the whole export is there.
TABLES: tuple[ExportLayout, ...] = (CUSTOMER, CUSTOMER_SOURCE, CONTACT, ACCOUNT)
ALL: tuple[ExportLayout, ...] = (*TABLES, BATCH)


def line_writer(layout: ExportLayout) -> Callable[[Sequence[Any]], str]:
    """The function that writes one row of `layout` as its line (LF included).

    Raises ExportRefused naming the table, the row's key and the column for a value the
    format cannot carry."""
    formats = [FORMATS[kind] for _name, kind in layout.columns]
    names = layout.names
    keys = [names.index(name) for name in layout.order]

    def write(row: Sequence[Any]) -> str:
        try:
            return (
                "|".join("" if v is None else f(v) for f, v in zip(formats, row, strict=True))
                + "\n"
            )
        except ValueError:
            for name, f, v in zip(names, formats, row, strict=True):
                try:
                    None if v is None else f(v)
                except ValueError as exc:
                    key = ", ".join(f"{layout.order[i]}={row[k]}" for i, k in enumerate(keys))
                    raise ExportRefused(
                        f"{layout.table} row {key}: {name} {exc}, which the export format "
                        "cannot carry (docs/export.md): nothing exported"
                    ) from None
            raise

    return write
