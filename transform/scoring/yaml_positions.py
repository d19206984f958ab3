"""YAML read with the line and column of every value, and exact numbers.

PyYAML's `safe_load` forgets where a value came from, keeps the last of two duplicate
keys without a word, and turns `1.5` into a binary float. An analyst fixing a formula
file needs "file, line, column" for every problem, a duplicate key is a mistake to
report, and a coefficient must stay the decimal it was written as. So formula files are
composed into YAML nodes and converted here into `Located` values instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Pos:
    """Where something is: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Problem:
    """One thing wrong with a formula file, with where it is."""

    pos: Pos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}"


@dataclass
class Located:
    """A YAML value with its position; mappings and lists hold `Located` values.

    `segments` map the characters of a string scalar back to the file (for expression
    error columns): (line, column, length) of each source line making up the text, and
    `joiner` is what YAML put between them (a space when folded, a newline when literal).
    """

    value: Any
    pos: Pos
    segments: list[tuple[int, int, int]] = field(default_factory=list)
    joiner: str = " "
    key_pos: Pos | None = None  # where its key is, for a value of a mapping

    def pos_at(self, offset: int) -> Pos:
        """The file position of character `offset` of this string scalar."""
        remaining = offset
        for line, col, length in self.segments:
            if remaining <= length:
                return Pos(self.pos.file, line, col + remaining)
            remaining -= length + 1
        return self.pos


def _scalar_segments(
    node: yaml.ScalarNode, lines: list[str]
) -> tuple[list[tuple[int, int, int]], str]:
    start, end = node.start_mark, node.end_mark
    text_lines: list[tuple[int, int, int]] = []
    if node.style in ("|", ">"):
        for number in range(start.line + 1, min(end.line + 1, len(lines))):
            raw = lines[number]
            stripped = raw.lstrip(" ")
            if not stripped.strip():
                continue
            indent = len(raw) - len(stripped)
            text_lines.append((number + 1, indent + 1, len(stripped.rstrip())))
        return text_lines, "\n" if node.style == "|" else " "
    quote = 1 if node.style in ("'", '"') else 0
    for number in range(start.line, min(end.line, len(lines) - 1) + 1):
        raw = lines[number]
        if number == start.line:
            col = start.column + quote
            stop = end.column - quote if end.line == start.line else len(raw.rstrip())
            text_lines.append((number + 1, col + 1, max(stop - col, 0)))
        else:
            stripped = raw.lstrip(" ")
            indent = len(raw) - len(stripped)
            stop = end.column - quote if number == end.line else len(raw.rstrip())
            text_lines.append((number + 1, indent + 1, max(stop - indent, 0)))
    return text_lines, " "


_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def _convert(node: yaml.Node, file: str, lines: list[str], problems: list[Problem]) -> Located:
    pos = Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Located] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, file, lines, problems)
            if not isinstance(key.value, str | int | Decimal | date):
                problems.append(Problem(key.pos, "a key must be a plain name"))
                continue
            name = str(key.value)
            if name in mapping:
                problems.append(
                    Problem(
                        key.pos,
                        f"duplicate definition of {name!r} (first at line {mapping[name].pos.line})",
                    )
                )
                continue
            value = _convert(value_node, file, lines, problems)
            value.key_pos = key.pos
            mapping[name] = value
        return Located(mapping, pos)
    if isinstance(node, yaml.SequenceNode):
        return Located([_convert(item, file, lines, problems) for item in node.value], pos)
    assert isinstance(node, yaml.ScalarNode)
    if node.tag in _NUMBER_TAGS:
        try:
            return Located(Decimal(node.value.replace("_", "")), pos)
        except InvalidOperation:
            problems.append(Problem(pos, f"{node.value!r} is not a decimal number"))
            return Located(node.value, pos)
    if node.tag == "tag:yaml.org,2002:str":
        segments, joiner = _scalar_segments(node, lines)
        return Located(node.value, pos, segments, joiner)
    constructor = yaml.constructor.SafeConstructor()
    try:
        value = constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        problems.append(Problem(pos, str(exc.problem)))
        value = node.value
    return Located(value, pos)


# A formula file is reviewed by a person; anything this big is a mistake (or an attack:
# YAML aliases expand "billion laughs" style, so they are refused outright).
MAX_FILE_CHARS = 1_000_000


def _first_alias(text: str) -> yaml.Token | None:
    """The first anchor or alias of the text, read token by token before composing."""
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
            return token
    return None


def load_located(path: Path, text: str | None = None) -> tuple[Located | None, list[Problem]]:
    """The file's YAML as `Located` values, and the problems found reading it."""
    file = str(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return None, [Problem(Pos(file, 1, 1), f"cannot read the file: {exc}")]
    if len(text) > MAX_FILE_CHARS:
        return None, [Problem(Pos(file, 1, 1), (
            f"the file is {len(text):,} characters long; a formula file holds at most "
            f"{MAX_FILE_CHARS:,}"
        ))]  # fmt: skip
    try:
        aliased = _first_alias(text)
        if aliased is not None:
            mark = aliased.start_mark
            return None, [Problem(Pos(file, mark.line + 1, mark.column + 1), (
                "YAML anchors and aliases (&name, *name) are not allowed in a formula file: "
                "write each value out, or put shared values in defaults"
            ))]  # fmt: skip
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Pos(file, mark.line + 1, mark.column + 1) if mark else Pos(file, 1, 1)
        return None, [Problem(where, f"YAML syntax error: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(Pos(file, 1, 1), f"YAML syntax error: {exc}")]
    if node is None:
        return None, [Problem(Pos(file, 1, 1), "the file is empty")]
    problems: list[Problem] = []
    located = _convert(node, file, text.splitlines() or [""], problems)
    return located, problems
