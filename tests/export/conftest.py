"""The export tests use the load tests' migrated warehouse (SQLite, and PostgreSQL)."""

from tests.load.conftest import make_warehouse, warehouse, warehouse_url

__all__ = ["make_warehouse", "warehouse", "warehouse_url"]
