"""Fixtures of the load tests: a migrated warehouse on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select

from load import Warehouse
from load.tables import metadata

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema yet): a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return str(request.getfixturevalue("pg_db_url"))


@pytest.fixture
def make_warehouse(warehouse_url: str) -> Iterator[Any]:
    """Factory of Warehouse objects on the test's database, upgraded, disposed at the end."""
    made: list[Warehouse] = []

    def make(chunk_rows: int = 3) -> Warehouse:
        warehouse = Warehouse(warehouse_url, chunk_rows=chunk_rows)
        warehouse.upgrade()
        made.append(warehouse)
        return warehouse

    yield make
    for warehouse in made:
        warehouse.dispose()


@pytest.fixture
def warehouse(make_warehouse: Any) -> Warehouse:
    return make_warehouse()  # type: ignore[no-any-return]


CRM_TABLES = [
    "crm_load_batch",
    "crm_customer",
    "crm_customer_source",
    "crm_contact",
    "crm_account",
    "crm_reject",
    "crm_file_count",
    "crm_customer_key",
    "crm_formula",
]
# `inputs` (migration 0007) is compared by the job-repository tests, not across migrations.
VOLATILE = {"created_at", "published_at", "assigned_at", "accepted_at", "inputs"}


def snapshot(engine: Engine, tables: list[str] = CRM_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the CRM tables, sorted, without timestamps: for equality checks. Only
    the columns the database has (a warehouse migrated down lacks the newer ones)."""
    result = {}
    with engine.connect() as conn:
        for name in tables:
            table = metadata.tables[name]
            present = {c["name"] for c in inspect(conn).get_columns(name)}
            columns = [c for c in table.columns if c.name not in VOLATILE and c.name in present]
            rows = conn.execute(select(*columns)).all()
            result[name] = sorted((tuple(row) for row in rows), key=repr)
    return result


def crm_view(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """What the CRM imports: the published batches and the CRM tables (not the registry,
    which assigns ids before publication, nor the control and staging tables)."""
    view = snapshot(engine, [t for t in CRM_TABLES if t not in ("crm_customer_key",)])
    view["crm_load_batch"] = [row for row in view["crm_load_batch"] if "published" in row]
    return view
