"""What a formula file holds once read: its blocks, aggregates, and the names they reach.

A directory of formula files is read into these plain records (see `formula_reader`),
then layered per province and date (see `layering`). Keeping the records apart from the
reading lets the checks, the layering and the scorer use them without the YAML code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.schema import SCORED_ACCOUNT_EXTRA, SOURCE_ACCOUNT
from transform.scoring.expression import BOOL, DATE, NUMBER, STRING, Node, names, render
from transform.scoring.yaml_positions import Pos

CUST_TYPES = ("P", "C")


def _field_type(arrow_type: pa.DataType) -> str:
    """The expression type of an account column."""
    if pa.types.is_string(arrow_type):
        return STRING
    if pa.types.is_boolean(arrow_type):
        return BOOL
    if pa.types.is_date(arrow_type):
        return DATE
    return NUMBER


# The account fields a formula can reach: the layouts' columns and the CNY equivalents.
ACCOUNT_FIELDS: dict[str, str] = {
    f.name: _field_type(f.type)
    for f in [*SOURCE_ACCOUNT, *SCORED_ACCOUNT_EXTRA]
    if f.name not in ("cust_key",)
}


@dataclass
class Aggregate:
    """`sum` of a per-account expression over the accounts passing `where`."""

    name: str
    value: Node
    where: Node | None
    pos: Pos


@dataclass
class Block:
    """Defaults, or what one province changes: every part optional."""

    pos: Pos
    parameters: dict[str, tuple[Decimal, Pos]] = field(default_factory=dict)
    account_filter: Node | None = None
    has_account_filter: bool = False
    aggregates: dict[str, Aggregate] = field(default_factory=dict)
    formulas: dict[str, Node] = field(default_factory=dict)
    thresholds: dict[str, tuple[Decimal, Pos]] = field(default_factory=dict)
    export_filter: tuple[Decimal, Pos] | None = None


@dataclass
class FormulaFile:
    """One formula file as read: its blocks and its content hash."""

    path: Path
    name: str
    effective_date: date
    sha256: str
    fallback_province: tuple[str, Pos] | None
    defaults: Block | None
    provinces: dict[str, Block]


@dataclass
class Resolved:
    """One province's formulas in force on a date, layered from defaults and its entry."""

    province: str
    entry: str  # the province whose entry is used (itself, or the fallback)
    name: str
    parameters: dict[str, Decimal]
    account_filter: Node | None
    aggregates: dict[str, Aggregate]
    formulas: dict[str, Node]
    thresholds: dict[str, Decimal]
    export_filter: Decimal | None
    pos: Pos

    def content(self, cust_type: str) -> dict[str, Any]:
        """What decides a customer's score and qualification, canonically (hashed into ids)."""
        formula = self.formulas[cust_type]
        used = sorted({n.name for n in names(formula)})
        aggregates = {
            n: {
                "sum": render(self.aggregates[n].value),
                "where": _render(self.aggregates[n].where),
            }
            for n in used
            if n in self.aggregates
        }
        account_names = {
            a.name
            for agg in self.aggregates.values()
            if agg.name in aggregates
            for node in (agg.value, agg.where)
            if node is not None
            for a in names(node)
        }
        params = {
            n: str(v) for n, v in sorted(self.parameters.items()) if n in used or n in account_names
        }
        return {
            "province": self.entry,
            "cust_type": cust_type,
            "score": render(formula),
            "aggregates": aggregates,
            "parameters": params,
            "account_filter": _render(self.account_filter),
            "threshold": str(self.thresholds.get(cust_type)),
            "export_filter": str(self.export_filter),
        }

    def formula_id(self, cust_type: str) -> str:
        """`{name}-{entry}-{type}@{hash of content}`: changes whenever the outcome can."""
        text = json.dumps(self.content(cust_type), sort_keys=True, ensure_ascii=False)
        return (
            f"{self.name}-{self.entry}-{cust_type}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"
        )


def _render(node: Node | None) -> str | None:
    return render(node) if node is not None else None
