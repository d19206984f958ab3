"""Formula files: read, validated, layered (defaults, provinces, effective dates), resolved.

A directory of formula files is one `FormulaSet`. Each file may hold `defaults` (the
aggregates, formulas, parameters, thresholds and export filter every province starts
from) and `provinces` (what a province changes), all in force from the file's
`effective_date`. For a province and a business date the latest defaults and the latest
entry of that province in force on that date are layered; a province without an entry
uses the `fallback_province`'s (ZJ for the bank). See docs/formulas.md.

Validation reports every problem of every file at once, each with file, line and column,
because an analyst should fix a file in one pass, not one error per run.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.schema import SCORED_ACCOUNT_EXTRA, SOURCE_ACCOUNT
from transform.scoring import expr
from transform.scoring.expr import BOOL, DATE, NUMBER, STRING, BoolOp, Cmp, In, Name, Node, Num, Str
from transform.scoring.source import Located, Pos, Problem, load_located

CUST_TYPES = ("P", "C")
KINDS = ("DEMAND", "TIME", "CARD", "LOAN", "FUND")
# Filter keys that are another name for an account column.
FILTER_ALIASES = {"product": "fund_code"}
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
_FILTER_OPS = {
    "not": "!=",
    "eq": "==",
    "ne": "!=",
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "in": "in",
    "not_in": "not in",
}


def _field_type(arrow_type: Any) -> str:
    import pyarrow as pa

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


# --- reading one file -------------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos, message))

    def mapping(
        self, item: Located, what: str, allowed: set[str] | None = None
    ) -> dict[str, Located]:
        if not isinstance(item.value, dict):
            self.problem(
                item.pos, f"{what} must be a mapping (name: value), not {_kind(item.value)}"
            )
            return {}
        if allowed is not None:
            for key, value in item.value.items():
                if key not in allowed:
                    self.problem(
                        value.key_pos or value.pos,
                        f"unknown field {key!r} in {what}; allowed: {', '.join(sorted(allowed))}",
                    )
        return {k: v for k, v in item.value.items() if allowed is None or k in allowed}

    def number(self, item: Located, what: str) -> Decimal | None:
        if isinstance(item.value, bool) or not isinstance(item.value, Decimal):
            self.problem(item.pos, f"{what} must be a number, not {_kind(item.value)}")
            return None
        return item.value

    def expression(self, item: Located) -> Node | None:
        try:
            return expr.parse(item)
        except expr.ExprError as exc:
            self.problems.extend(exc.problems)
            return None

    def filter(self, item: Located, what: str) -> Node | None:
        """A filter: an expression, or a mapping field -> value / list / {op: value}."""
        if isinstance(item.value, str):
            return self.expression(item)
        parts: list[Node] = []
        for key, value in self.mapping(item, what).items():
            column = FILTER_ALIASES.get(key, key)
            key_pos = value.key_pos or value.pos
            if column not in ACCOUNT_FIELDS:
                self.problem(
                    key_pos,
                    f"unknown account field {key!r} in {what}; fields: {', '.join(sorted(ACCOUNT_FIELDS))}",
                )
                continue
            target = Name(key_pos, column)
            if isinstance(value.value, dict):
                for op, operand in value.value.items():
                    if op not in _FILTER_OPS:
                        self.problem(
                            operand.key_pos or operand.pos,
                            f"unknown filter operator {op!r}; allowed: {', '.join(_FILTER_OPS)}",
                        )
                        continue
                    node = self._condition(target, _FILTER_OPS[op], operand)
                    if node is not None:
                        parts.append(node)
            else:
                node = self._condition(
                    target, "in" if isinstance(value.value, list) else "==", value
                )
                if node is not None:
                    parts.append(node)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else BoolOp(item.pos, "and", tuple(parts))

    def _constant(self, item: Located) -> Node | None:
        if isinstance(item.value, bool) or item.value is None:
            self.problem(
                item.pos, f"a filter value must be text or a number, not {_kind(item.value)}"
            )
            return None
        if isinstance(item.value, Decimal):
            return Num(item.pos, item.value)
        if isinstance(item.value, str | int | date):
            return Str(item.pos, str(item.value))
        self.problem(item.pos, f"a filter value must be text or a number, not {_kind(item.value)}")
        return None

    def _condition(self, target: Name, op: str, operand: Located) -> Node | None:
        if isinstance(operand.value, list):
            values = [self._constant(v) for v in operand.value]
            clean = tuple(v for v in values if v is not None)
            if op in ("==", "in"):
                return In(operand.pos, target, clean, negate=False)
            if op in ("!=", "not in"):
                return In(operand.pos, target, clean, negate=True)
            self.problem(operand.pos, f"a list cannot follow {op!r}")
            return None
        if op in ("in", "not in"):
            self.problem(operand.pos, f"{op!r} needs a list of values")
            return None
        constant = self._constant(operand)
        return Cmp(operand.pos, op, target, constant) if constant is not None else None

    def block(self, item: Located, what: str) -> Block:
        fields = self.mapping(item, what, _BLOCK_KEYS)
        block = Block(pos=item.key_pos or item.pos)
        if "parameters" in fields:
            for name, value in self.mapping(fields["parameters"], f"{what}.parameters").items():
                pos = value.key_pos or value.pos
                if not _IDENT.match(name):
                    self.problem(pos, f"parameter name {name!r} must be letters, digits and _")
                elif name in ACCOUNT_FIELDS or name in expr.FUNCTIONS:
                    self.problem(
                        pos, f"parameter {name!r} has the name of an account field or function"
                    )
                number = self.number(value, f"parameter {name!r}")
                if number is not None:
                    block.parameters[name] = (number, value.pos)
        if "account_filter" in fields:
            block.has_account_filter = True
            block.account_filter = self.filter(fields["account_filter"], f"{what}.account_filter")
        if "aggregates" in fields:
            for name, value in self.mapping(fields["aggregates"], f"{what}.aggregates").items():
                pos = value.key_pos or value.pos
                if not _IDENT.match(name):
                    self.problem(pos, f"aggregate name {name!r} must be letters, digits and _")
                    continue
                if name in ACCOUNT_FIELDS or name in expr.FUNCTIONS:
                    self.problem(
                        pos, f"aggregate {name!r} has the name of an account field or function"
                    )
                parts = self.mapping(value, f"aggregate {name!r}", _AGGREGATE_KEYS)
                if "sum" not in parts:
                    if isinstance(value.value, dict):
                        self.problem(
                            pos, f"aggregate {name!r} needs 'sum: <expression over an account>'"
                        )
                    continue
                summed = self.expression(parts["sum"])
                where = (
                    self.filter(parts["where"], f"aggregate {name!r} where")
                    if "where" in parts
                    else None
                )
                # A broken sum is already reported: keep a stand-in so that formulas using
                # the aggregate do not add "unknown name" problems on top.
                block.aggregates[name] = Aggregate(name, summed or Num(pos, Decimal(0)), where, pos)
        if "formulas" in fields:
            for cust_type, value in self.mapping(fields["formulas"], f"{what}.formulas").items():
                if cust_type not in CUST_TYPES:
                    self.problem(
                        value.key_pos or value.pos,
                        f"unknown customer type {cust_type!r}; the types are {', '.join(CUST_TYPES)}",
                    )
                    continue
                node = self.expression(value)
                block.formulas[cust_type] = node or Num(value.pos, Decimal(0))  # reported
        if "thresholds" in fields:
            for cust_type, value in self.mapping(
                fields["thresholds"], f"{what}.thresholds"
            ).items():
                if cust_type not in CUST_TYPES:
                    self.problem(
                        value.key_pos or value.pos,
                        f"unknown customer type {cust_type!r}; the types are {', '.join(CUST_TYPES)}",
                    )
                    continue
                number = self.number(value, f"threshold for {cust_type}")
                block.thresholds[cust_type] = (number or Decimal(0), value.pos)  # reported
        if "export_filter" in fields:
            number = self.number(fields["export_filter"], "export_filter")
            block.export_filter = (number or Decimal(0), fields["export_filter"].pos)  # reported
        return block

    def read(self, text: str | None = None) -> FormulaFile | None:
        located, problems = load_located(self.path, text)
        self.problems.extend(problems)
        if located is None:
            return None
        raw = text if text is not None else self.path.read_text(encoding="utf-8")
        top = self.mapping(located, "the file", _TOP_KEYS)
        name = self.path.stem
        if "name" in top:
            if isinstance(top["name"].value, str) and _IDENT.match(
                top["name"].value.replace("-", "_")
            ):
                name = top["name"].value
            else:
                self.problem(
                    top["name"].pos, "name must be a short word (letters, digits, - and _)"
                )
        effective = date(1900, 1, 1)
        if "effective_date" not in top:
            self.problem(
                located.pos, "missing field 'effective_date' (the first business date in force)"
            )
        elif isinstance(top["effective_date"].value, date):
            effective = top["effective_date"].value
        else:
            self.problem(top["effective_date"].pos, "effective_date must be a date like 2026-01-01")
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


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Decimal):
        return f"the number {value}"
    if value is None:
        return "empty"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"


def read_file(path: Path, text: str | None = None) -> tuple[FormulaFile | None, list[Problem]]:
    """One formula file, and the problems found reading it."""
    reader = _Reader(path)
    result = reader.read(text)
    return result, reader.problems


# --- layering and resolution ------------------------------------------------------------


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
        used = sorted({n.name for n in expr.names(formula)})
        aggregates = {
            n: {
                "sum": expr.render(self.aggregates[n].value),
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
            for a in expr.names(node)
        }
        params = {
            n: str(v) for n, v in sorted(self.parameters.items()) if n in used or n in account_names
        }
        return {
            "province": self.entry,
            "cust_type": cust_type,
            "score": expr.render(formula),
            "aggregates": aggregates,
            "parameters": params,
            "account_filter": _render(self.account_filter),
            "threshold": str(self.thresholds.get(cust_type)),
            "export_filter": str(self.export_filter),
        }

    def formula_id(self, cust_type: str) -> str:
        text = json.dumps(self.content(cust_type), sort_keys=True, ensure_ascii=False)
        return (
            f"{self.name}-{self.entry}-{cust_type}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"
        )


def _render(node: Node | None) -> str | None:
    return expr.render(node) if node is not None else None


def _latest(candidates: list[tuple[date, Any]], business_date: date) -> Any | None:
    in_force = [c for c in candidates if c[0] <= business_date]
    return max(in_force, key=lambda c: c[0])[1] if in_force else None


def resolve(
    files: list[FormulaFile], province: str, business_date: date
) -> tuple[Resolved | None, list[Problem]]:
    """Layer defaults and the province's entry in force on `business_date`; check the result."""
    defaults: list[tuple[date, tuple[FormulaFile, Block]]] = [
        (f.effective_date, (f, f.defaults)) for f in files if f.defaults is not None
    ]
    fallbacks = [(f.effective_date, f.fallback_province) for f in files if f.fallback_province]
    entry = province
    own = [(f.effective_date, (f, f.provinces[province])) for f in files if province in f.provinces]
    chosen = _latest(own, business_date)
    if chosen is None:
        fallback = _latest(fallbacks, business_date)
        if fallback is not None and fallback[0] != province:
            entry = fallback[0]
            chosen = _latest(
                [
                    (f.effective_date, (f, f.provinces[entry]))
                    for f in files
                    if entry in f.provinces
                ],
                business_date,
            )
    base = _latest(defaults, business_date)
    if base is None and chosen is None:
        where = (
            files[0].defaults.pos
            if files and files[0].defaults
            else Pos(str(files[0].path) if files else "?", 1, 1)
        )
        return None, [
            Problem(
                where,
                f"province {province} has no formula in force on {business_date} "
                "(give it an entry, or add defaults or a fallback_province)",
            )
        ]
    layers = [layer for layer in (base, chosen) if layer is not None]
    source_file, _ = layers[-1]
    resolved = Resolved(
        province=province,
        entry=entry,
        name=source_file.name,
        parameters={},
        account_filter=None,
        aggregates={},
        formulas={},
        thresholds={},
        export_filter=None,
        pos=layers[-1][1].pos,
    )
    for _, block in layers:
        resolved.parameters.update({k: v for k, (v, _) in block.parameters.items()})
        if block.has_account_filter:
            resolved.account_filter = block.account_filter
        resolved.aggregates.update(block.aggregates)
        resolved.formulas.update(block.formulas)
        resolved.thresholds.update({k: v for k, (v, _) in block.thresholds.items()})
        if block.export_filter is not None:
            resolved.export_filter = block.export_filter[0]
    return resolved, check_resolved(resolved)


def check_resolved(resolved: Resolved) -> list[Problem]:
    """Types, names, guards and completeness of one province's layered formulas."""
    problems: list[Problem] = []
    params = resolved.parameters
    account_scope = expr.Scope(
        types={**ACCOUNT_FIELDS, **{p: NUMBER for p in params}},
        what={**{f: "field" for f in ACCOUNT_FIELDS}, **{p: "parameter" for p in params}},
        params=params,
        where="an account expression (account fields and parameters)",
    )
    facts: set[str] = set()
    if resolved.account_filter is not None:
        problems += expr.check(resolved.account_filter, account_scope, BOOL, "the account filter")
        facts = expr.nonzero_when(resolved.account_filter, True)
    for aggregate in resolved.aggregates.values():
        local = set(facts)
        if aggregate.where is not None:
            problems += expr.check(
                aggregate.where, account_scope, BOOL, f"the filter of {aggregate.name}"
            )
            local |= expr.nonzero_when(aggregate.where, True)
        problems += expr.check(
            aggregate.value, account_scope, NUMBER, f"the sum of {aggregate.name}", local
        )
    customer_scope = expr.Scope(
        types={**{a: NUMBER for a in resolved.aggregates}, **{p: NUMBER for p in params}},
        what={**{a: "aggregate" for a in resolved.aggregates}, **{p: "parameter" for p in params}},
        params=params,
        where="a formula (aggregates and parameters)",
    )
    for cust_type, formula in resolved.formulas.items():
        problems += expr.check(formula, customer_scope, NUMBER, f"the {cust_type} formula")
    for cust_type in CUST_TYPES:
        if cust_type not in resolved.formulas:
            problems.append(
                Problem(
                    resolved.pos,
                    f"province {resolved.province} has no formula for customer type {cust_type}",
                )
            )
        if cust_type not in resolved.thresholds:
            problems.append(
                Problem(
                    resolved.pos,
                    f"province {resolved.province} has no threshold for customer type {cust_type}",
                )
            )
    if resolved.export_filter is None:
        problems.append(Problem(resolved.pos, f"province {resolved.province} has no export_filter"))
    return problems


def check_files(files: list[FormulaFile]) -> list[Problem]:
    """Problems across files: duplicate definitions of one scope on one effective date."""
    problems: list[Problem] = []
    seen: dict[tuple[str, date], Pos] = {}

    def claim(scope: str, when: date, pos: Pos) -> None:
        key = (scope, when)
        if key in seen:
            first = seen[key]
            problems.append(
                Problem(
                    pos, f"duplicate definition of {scope} in force from {when} (also at {first})"
                )
            )
        else:
            seen[key] = pos

    for f in files:
        if f.defaults is not None:
            claim("defaults", f.effective_date, f.defaults.pos)
        if f.fallback_province is not None:
            claim("fallback_province", f.effective_date, f.fallback_province[1])
        for code, block in f.provinces.items():
            claim(f"province {code}", f.effective_date, block.pos)
    return problems
