"""What every warehouse table is built on: the shared metadata and its column kinds.

The metadata's naming convention gives every constraint and index the name the Alembic
migrations created it with. The column types themselves (`Amount`, `BigId`) are in
load.types, which the migrations import too; here are the kinds the tables use: money,
CNY equivalents, and identifiers compared in byte order (`ident`).
"""

from __future__ import annotations

from sqlalchemy import MetaData, String
from sqlalchemy.types import TypeEngine

from load.types import Amount, BigId

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

__all__ = ["MONEY", "MONEY_CNY", "NAMING", "Amount", "BigId", "ident", "metadata"]

MONEY = Amount(20, 2)
# CNY equivalents keep the exact product balance x rate / 100 (decimal128(38, 8) in the
# transform stage): the CRM can add them up and reproduce a score to the fen.
MONEY_CNY = Amount(38, 8)


def ident(length: int | None = None) -> TypeEngine[str]:
    """An identifier column (codes, customer and account numbers): compared in byte order.

    PostgreSQL: `COLLATE "C"` (migration 0005), so that sorting and indexing them is
    `memcmp` with abbreviated keys rather than the database's libc collation (`strcoll`);
    SQLite compares bytes anyway (BINARY). Equality is the same either way.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")
