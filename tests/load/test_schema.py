"""The schema comes from the migrations, and matches load/tables.py, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from load import Warehouse
from load.tables import metadata


def test_migrations_create_every_table(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    try:
        assert warehouse.revision() is None
        warehouse.upgrade()
        assert warehouse.revision() == warehouse.head()
        names = set(inspect(warehouse.engine).get_table_names())
        assert set(metadata.tables) <= names
        with warehouse.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        warehouse.upgrade()  # a second upgrade is a no-op
        assert warehouse.revision() == warehouse.head()
    finally:
        warehouse.dispose()


def test_crm_minimum_columns(warehouse: Warehouse) -> None:
    """The columns crm-import.md promises the CRM are there."""
    promised: dict[str, set[str]] = {
        "crm_load_batch": {"batch_id", "business_date", "province", "mode", "status",
                           "published_at"},
        "crm_customer": {"crm_cust_id", "province", "cust_type", "name", "id_type", "id_no",
                         "master_source", "master_cust_no", "score", "formula_id", "qualified",
                         "batch_id"},
        "crm_customer_source": {"crm_cust_id", "source", "source_cust_no", "role"},
        "crm_account": {"crm_cust_id", "source", "acct_no", "kind", "currency", "balance",
                        "balance_cny", "status"},
    }  # fmt: skip
    inspector: Any = inspect(warehouse.engine)
    for table, columns in promised.items():
        assert columns <= {c["name"] for c in inspector.get_columns(table)}, table
