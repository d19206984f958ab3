"""Account filters: an expression, or the mapping shorthand `{kind: LOAN, term_months: {gt: 0}}`.

Analysts write most filters as a mapping of account field to a value, a list of values
or `{operator: value}`; this module turns that shorthand into the same expression tree
an expression filter gives, so that checking and evaluation know one form only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from transform.scoring.expression import BoolOp, Cmp, In, Name, Node, Num, Str
from transform.scoring.field_reader import FieldReader, describe
from transform.scoring.formula_model import ACCOUNT_FIELDS
from transform.scoring.yaml_positions import Located

# Filter keys that are another name for an account column.
FILTER_ALIASES = {"product": "fund_code"}
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


def read_filter(reader: FieldReader, item: Located, what: str) -> Node | None:
    """A filter as an expression tree (None when empty or broken, problems reported)."""
    if isinstance(item.value, str):
        return reader.expression(item)
    parts: list[Node] = []
    for key, value in reader.mapping(item, what).items():
        column = FILTER_ALIASES.get(key, key)
        key_pos = value.key_pos or value.pos
        if column not in ACCOUNT_FIELDS:
            reader.problem(
                key_pos,
                f"unknown account field {key!r} in {what}; fields: {', '.join(sorted(ACCOUNT_FIELDS))}",
            )
            continue
        target = Name(key_pos, column)
        if isinstance(value.value, dict):
            for op, operand in value.value.items():
                if op not in _FILTER_OPS:
                    reader.problem(
                        operand.key_pos or operand.pos,
                        f"unknown filter operator {op!r}; allowed: {', '.join(_FILTER_OPS)}",
                    )
                    continue
                node = _condition(reader, target, _FILTER_OPS[op], operand)
                if node is not None:
                    parts.append(node)
        else:
            op = "in" if isinstance(value.value, list) else "=="
            node = _condition(reader, target, op, value)
            if node is not None:
                parts.append(node)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else BoolOp(item.pos, "and", tuple(parts))


def _constant(reader: FieldReader, item: Located) -> Node | None:
    """A filter value: a number stays exact, anything else is compared as text."""
    if not isinstance(item.value, bool) and item.value is not None:
        if isinstance(item.value, Decimal):
            return Num(item.pos, item.value)
        if isinstance(item.value, str | int | date):
            return Str(item.pos, str(item.value))
    reader.problem(item.pos, f"a filter value must be text or a number, not {describe(item.value)}")
    return None


def _condition(reader: FieldReader, target: Name, op: str, operand: Located) -> Node | None:
    if isinstance(operand.value, list):
        values = [_constant(reader, v) for v in operand.value]
        clean = tuple(v for v in values if v is not None)
        if op in ("==", "in"):
            return In(operand.pos, target, clean, negate=False)
        if op in ("!=", "not in"):
            return In(operand.pos, target, clean, negate=True)
        reader.problem(operand.pos, f"a list cannot follow {op!r}")
        return None
    if op in ("in", "not in"):
        reader.problem(operand.pos, f"{op!r} needs a list of values")
        return None
    constant = _constant(reader, operand)
    return Cmp(operand.pos, op, target, constant) if constant is not None else None
