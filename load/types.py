"""Column types that behave the same on PostgreSQL and SQLite.

SQLite has no exact decimal type: a NUMERIC column turns `'1234.56'` into a binary REAL
(15 significant digits), which is not good enough for a bank's balances. `Amount` is a true
`NUMERIC(p, s)` on PostgreSQL and a canonical decimal string on SQLite, so the same code
reads back the exact `Decimal` on both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Integer, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# A surrogate key: 64-bit on PostgreSQL; on SQLite it must be spelled INTEGER to be the
# rowid alias that AUTOINCREMENT needs.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Amount(TypeDecorator[Decimal]):
    """Exact decimal: NUMERIC(precision, scale) on PostgreSQL, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(Decimal(value).quantize(Decimal(1).scaleb(-self.scale)))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def __repr__(self) -> str:
        return f"Amount({self.precision}, {self.scale})"
