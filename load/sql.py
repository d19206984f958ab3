"""Helpers for the hand-written SQL of the load stage, the same on PostgreSQL and SQLite.

Most statements of the publication are text (set-based `INSERT ... SELECT`, `UPDATE ...
FROM`): `text` types their parameters, `literal` quotes a value spliced into DDL or a
`COPY`, which take no parameters, and `c_order` sorts identifiers in byte order.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, String, TextClause, bindparam
from sqlalchemy import text as _text

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
