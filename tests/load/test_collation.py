"""Migration 0005: identifier columns compared in byte order (COLLATE "C") on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from load import Warehouse
from load.tables import metadata
from tests.load.conftest import snapshot
from tests.load.factory import DAY2, make_batch, people
from tests.load.test_partitions import _reference
from tests.load.test_restart import Crash, _comparable, crash_at

# What 0005 declares "C": table -> columns (partitions and batch tables: their CRM table's).
BYTE_ORDER = {
    "crm_customer_key": {"cust_type", "id_type", "id_no"},
    "crm_customer_source": {"source", "source_cust_no"},
    "crm_contact": {"source", "source_cust_no"},
    "crm_account": {"source", "acct_no", "source_cust_no"},
    "stg_customer": {"cust_key", "cust_type", "id_type", "id_no"},
    "stg_customer_source": {"source", "source_cust_no"},
    "stg_contact": {"source", "source_cust_no"},
    "stg_account": {"source", "acct_no", "source_cust_no"},
}


def _collations(warehouse: Warehouse) -> dict[tuple[str, str], str | None]:
    """(table, column) -> collation of every text column of every table (None: default)."""
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND data_type IN ('character varying', 'text')"
            )
        ).all()
    return {(row[0], row[1]): row[2] for row in rows}


def _expected(table: str) -> set[str]:
    if table.startswith("stg_customer_b"):
        return BYTE_ORDER["stg_customer"]
    for crm in ("crm_account", "crm_customer_source", "crm_contact"):
        if table.startswith(f"{crm}_p_"):
            return BYTE_ORDER[crm]
    for stg in ("stg_account", "stg_customer_source", "stg_contact"):
        if table.startswith(f"{stg}_b"):
            return BYTE_ORDER[stg.replace("stg_", "crm_")]
    return BYTE_ORDER.get(table, set())


def _check(warehouse: Warehouse, *, upgraded: bool) -> None:
    collations = _collations(warehouse)
    assert any(table.startswith("crm_account_p_") for table, _ in collations)
    for (table, column), collation in collations.items():
        byte_order = upgraded and column in _expected(table)
        assert collation == ("C" if byte_order else None), (table, column, collation)


@pytest.mark.postgres
def test_identifiers_in_byte_order_upgrade_and_downgrade(pg_db_url: str, tmp_path: Path) -> None:
    """Existing partitions and an interrupted first load's own tables are converted both
    ways, with their rows; the interrupted load then resumes and attaches them."""
    warehouse = Warehouse(pg_db_url, chunk_rows=2)
    try:
        warehouse.upgrade()
        first = make_batch(people(6), province="GD")
        warehouse.write_batch(first)
        later = make_batch(people(10, accounts=3), province="ZJ")
        with pytest.raises(Crash):
            warehouse.write_batch(later, on_chunk=crash_at("stg_account", 2))
        _check(warehouse, upgraded=True)
        before = snapshot(warehouse.engine)
        config = warehouse._alembic()
        with warehouse.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        _check(warehouse, upgraded=False)
        assert snapshot(warehouse.engine) == before
        warehouse.upgrade()
        _check(warehouse, upgraded=True)
        assert snapshot(warehouse.engine) == before

        result = warehouse.write_batch(later)
        assert result.published and result.resumed
        assert warehouse.write_batch(
            make_batch(people(8), province="GD", business_date=DAY2)
        ).published

        def steps(reference: Warehouse) -> None:
            reference.write_batch(first)
            reference.write_batch(later)
            reference.write_batch(make_batch(people(8), province="GD", business_date=DAY2))

        assert _comparable(snapshot(warehouse.engine)) == _reference(tmp_path, steps)
    finally:
        warehouse.dispose()


def test_sqlite_schema_has_no_collation(make_warehouse: Any) -> None:
    """SQLite compares bytes already: its tables are declared as before 0005."""
    warehouse: Warehouse = make_warehouse()
    if warehouse.engine.dialect.name != "sqlite":
        assert all(
            metadata.tables[table].c[column].type.dialect_impl(warehouse.engine.dialect).collation
            == "C"  # type: ignore[attr-defined]
            for table, columns in BYTE_ORDER.items()
            for column in columns
        )
        return
    with warehouse.engine.connect() as conn:
        ddl = conn.execute(text("SELECT group_concat(sql, ' ') FROM sqlite_master")).scalar_one()
    assert "collate" not in ddl.lower()
