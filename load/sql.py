"""Helpers for the hand-written SQL of the load stage, the same on PostgreSQL and SQLite.

Most statements of the publication are text (set-based `INSERT ... SELECT`, `UPDATE ...
FROM`): `text` types their parameters, `literal` quotes a value spliced into DDL or a
`COPY`, which take no parameters, and `c_order` sorts identifiers in byte order.
`chunks` and `one_of` look rows up by a list of values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    String,
    TextClause,
    any_,
    bindparam,
)
from sqlalchemy import text as _text
from sqlalchemy.types import TypeEngine

# Typed parameters of the SQL: psycopg prepares statements server-side, where an untyped
# `:p` used both as a value and in a comparison has no single type.
_PARAM_TYPES: dict[str, Any] = {
    "p": String(),
    "b": BigInteger(),
    "now": DateTime(timezone=True),
    "t": String(),
    "f": String(),
    "n": String(),
    "h": String(),
}


def text(sql: str) -> TextClause:
    """`sql` as a statement whose parameters `:p` (province), `:b` (batch id), `:now`,
    `:t`, `:f`, `:n`, `:h` (strings) have their types bound."""
    names = set(re.findall(r"(?<!:):(\w+)", sql))
    return _text(sql).bindparams(
        *(bindparam(name, type_=kind) for name, kind in _PARAM_TYPES.items() if name in names)
    )


def literal(value: str) -> str:
    """`value` as an SQL string literal (for statements that take no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def c_order(engine: Engine, *columns: str) -> str:
    """An `ORDER BY` list of `columns` in byte order on both databases (SQLite's BINARY
    is; PostgreSQL needs `COLLATE "C"`)."""
    collate = ' COLLATE "C"' if engine.dialect.name == "postgresql" else ""
    return ", ".join(f"{column}{collate}" for column in columns)


# Values per `IN` list on SQLite: below its bound parameters (999 in older builds).
IN_CHUNK = 500


def chunks(engine: Engine, values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`values` in lists for `one_of`: all at once on PostgreSQL (one array parameter),
    `IN_CHUNK` at a time on SQLite."""
    step = max(len(values), 1) if engine.dialect.name == "postgresql" else IN_CHUNK
    for start in range(0, len(values), step):
        yield values[start : start + step]


def one_of(
    engine: Engine, column: ColumnElement[Any], values: Sequence[Any], kind: TypeEngine[Any]
) -> ColumnElement[bool]:
    """`column` is one of `values` (a list from `chunks`). On PostgreSQL one array parameter
    (`= ANY`): an `IN` of thousands of bound parameters cost more to build and send than
    the look-ups themselves (0.85 s of a 2 M province's night for the gate's, 0.25 s of it
    in the server)."""
    if engine.dialect.name == "postgresql":
        return column == any_(bindparam("values", list(values), ARRAY(kind), unique=True))
    return column.in_(values)
