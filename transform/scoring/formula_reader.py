"""One formula file read into a `FormulaFile`: top-level fields, then each block's parts.

Each file may hold `defaults` (the aggregates, formulas, parameters, thresholds and export
filter every province starts from) and `provinces` (what a province changes), all in
force from the file's `effective_date` (docs/formulas.md). Every problem is collected
with its position; what is broken gets a stand-in so that one mistake is reported once,
not again by every formula that uses it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from transform.scoring.account_filters import read_filter
from transform.scoring.expression import FUNCTIONS, Num
from transform.scoring.field_reader import FieldReader
from transform.scoring.formula_model import (
    ACCOUNT_FIELDS,
    CUST_TYPES,
    Aggregate,
    Block,
    FormulaFile,
)
from transform.scoring.yaml_positions import Located, Pos, Problem, load_located

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TOP_KEYS = {"name", "description", "effective_date", "fallback_province", "defaults", "provinces"}
_BLOCK_KEYS = {
    "description",
    "parameters",
    "account_filter",
    "aggregates",
    "formulas",
    "thresholds",
    "export_filter",
}
_AGGREGATE_KEYS = {"sum", "where", "description"}


class _FileReader(FieldReader):
    """Reads one file's blocks; `problems` holds everything wrong with it."""

    def _name_clash(self, pos: Pos, what: str, name: str) -> None:
        """A parameter or aggregate must not hide an account field or a function."""
        if name in ACCOUNT_FIELDS or name in FUNCTIONS:
            self.problem(pos, f"{what} {name!r} has the name of an account field or function")

    def _by_cust_type(self, item: Located, what: str) -> dict[str, Located]:
        """A mapping keyed by customer type; unknown types reported and left out."""
        known = {}
        for cust_type, value in self.mapping(item, what).items():
            if cust_type in CUST_TYPES:
                known[cust_type] = value
            else:
                self.problem(
                    value.key_pos or value.pos,
                    f"unknown customer type {cust_type!r}; the types are {', '.join(CUST_TYPES)}",
                )
        return known

    def _parameters(self, item: Located, what: str, block: Block) -> None:
        for name, value in self.mapping(item, f"{what}.parameters").items():
            pos = value.key_pos or value.pos
            if not _IDENT.match(name):
                self.problem(pos, f"parameter name {name!r} must be letters, digits and _")
            else:
                self._name_clash(pos, "parameter", name)
            number = self.number(value, f"parameter {name!r}")
            if number is not None:
                block.parameters[name] = (number, value.pos)

    def _aggregates(self, item: Located, what: str, block: Block) -> None:
        for name, value in self.mapping(item, f"{what}.aggregates").items():
            pos = value.key_pos or value.pos
            if not _IDENT.match(name):
                self.problem(pos, f"aggregate name {name!r} must be letters, digits and _")
                continue
            self._name_clash(pos, "aggregate", name)
            parts = self.mapping(value, f"aggregate {name!r}", _AGGREGATE_KEYS)
            if "sum" not in parts:
                if isinstance(value.value, dict):
                    self.problem(
                        pos, f"aggregate {name!r} needs 'sum: <expression over an account>'"
                    )
                continue
            summed = self.expression(parts["sum"])
            where = (
                read_filter(self, parts["where"], f"aggregate {name!r} where")
                if "where" in parts
                else None
            )
            # A broken sum is already reported: keep a stand-in so that formulas using
            # the aggregate do not add "unknown name" problems on top.
            block.aggregates[name] = Aggregate(name, summed or Num(pos, Decimal(0)), where, pos)

    def block(self, item: Located, what: str) -> Block:
        """Defaults or one province's entry."""
        fields = self.mapping(item, what, _BLOCK_KEYS)
        block = Block(pos=item.key_pos or item.pos)
        if "parameters" in fields:
            self._parameters(fields["parameters"], what, block)
        if "account_filter" in fields:
            block.has_account_filter = True
            block.account_filter = read_filter(
                self, fields["account_filter"], f"{what}.account_filter"
            )
        if "aggregates" in fields:
            self._aggregates(fields["aggregates"], what, block)
        if "formulas" in fields:
            for cust_type, value in self._by_cust_type(
                fields["formulas"], f"{what}.formulas"
            ).items():
                node = self.expression(value)
                block.formulas[cust_type] = node or Num(value.pos, Decimal(0))  # reported
        if "thresholds" in fields:
            for cust_type, value in self._by_cust_type(
                fields["thresholds"], f"{what}.thresholds"
            ).items():
                number = self.number(value, f"threshold for {cust_type}")
                block.thresholds[cust_type] = (number or Decimal(0), value.pos)  # reported
        if "export_filter" in fields:
            number = self.number(fields["export_filter"], "export_filter")
            block.export_filter = (number or Decimal(0), fields["export_filter"].pos)  # reported
        return block

    def _name(self, top: dict[str, Located]) -> str:
        """The formula's name: `name:` when given, else the file's stem."""
        if "name" not in top:
            return self.path.stem
        value = top["name"].value
        if isinstance(value, str) and _IDENT.match(value.replace("-", "_")):
            return value
        self.problem(top["name"].pos, "name must be a short word (letters, digits, - and _)")
        return self.path.stem

    def _effective_date(self, located: Located, top: dict[str, Located]) -> date:
        if "effective_date" not in top:
            self.problem(
                located.pos, "missing field 'effective_date' (the first business date in force)"
            )
        elif isinstance(top["effective_date"].value, date):
            return top["effective_date"].value
        else:
            self.problem(top["effective_date"].pos, "effective_date must be a date like 2026-01-01")
        return date(1900, 1, 1)

    def read(self, text: str | None = None) -> FormulaFile | None:
        located, problems = load_located(self.path, text)
        self.problems.extend(problems)
        if located is None:
            return None
        raw = text if text is not None else self.path.read_text(encoding="utf-8")
        top = self.mapping(located, "the file", _TOP_KEYS)
        name = self._name(top)
        effective = self._effective_date(located, top)
        fallback = None
        if "fallback_province" in top:
            value = top["fallback_province"]
            if isinstance(value.value, str):
                fallback = (value.value, value.pos)
            else:
                self.problem(value.pos, "fallback_province must be a province code like ZJ")
        defaults = self.block(top["defaults"], "defaults") if "defaults" in top else None
        provinces: dict[str, Block] = {}
        if "provinces" in top:
            for code, value in self.mapping(top["provinces"], "provinces").items():
                provinces[code] = (
                    self.block(value, f"provinces.{code}")
                    if value.value is not None
                    else Block(pos=value.key_pos or value.pos)
                )
        if defaults is None and not provinces:
            self.problem(located.pos, "the file defines neither 'defaults' nor 'provinces'")
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
        return FormulaFile(self.path, name, effective, digest, fallback, defaults, provinces)


def read_file(path: Path, text: str | None = None) -> tuple[FormulaFile | None, list[Problem]]:
    """One formula file, and the problems found reading it."""
    reader = _FileReader(path)
    result = reader.read(text)
    return result, reader.problems
