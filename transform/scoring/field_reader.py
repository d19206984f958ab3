"""The shape checks every part of a formula file goes through, and their messages.

Validation reports every problem of every file at once, each with file, line and column,
because an analyst should fix a file in one pass, not one error per run. So reading
never stops at the first problem: a `FieldReader` collects problems and hands back what
it could read (or None), and the readers of filters, blocks and files build on it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from transform.scoring.expression import Node, out_of_range
from transform.scoring.expression_parser import ExprError, parse
from transform.scoring.yaml_positions import Located, Pos, Problem


def describe(value: Any) -> str:
    """A YAML value as a message names it ("a list", "the number 5", "empty" ...)."""
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


class FieldReader:
    """Reads the values of one file, collecting every problem instead of raising."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos, message))

    def mapping(
        self, item: Located, what: str, allowed: set[str] | None = None
    ) -> dict[str, Located]:
        """`item` as a mapping; unknown keys (when `allowed` is given) reported and left out."""
        if not isinstance(item.value, dict):
            self.problem(
                item.pos, f"{what} must be a mapping (name: value), not {describe(item.value)}"
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
        """`item` as an exact number, or None (reported)."""
        if isinstance(item.value, bool) or not isinstance(item.value, Decimal):
            self.problem(item.pos, f"{what} must be a number, not {describe(item.value)}")
            return None
        wrong = out_of_range(item.value, f"{what} {item.value}")
        if wrong:
            self.problem(item.pos, wrong)
            return None
        return item.value

    def expression(self, item: Located) -> Node | None:
        """`item` parsed as an expression, or None (its problems reported)."""
        try:
            return parse(item)
        except ExprError as exc:
            self.problems.extend(exc.problems)
            return None
