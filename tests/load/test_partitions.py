"""A province's first accounts, source records and contacts are attached as its partitions
of crm_account, crm_customer_source and crm_contact (PostgreSQL),
with the same guarantees as the row-by-row path: restart after the last chunk, nothing
visible before the publication commits, the same warehouse as an uninterrupted run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from load import Warehouse, publish
from load.batch_tables import batch_table_name, customer_table_name, include_name, partition_name
from load.tables import crm_account, crm_contact, crm_customer_source, metadata
from tests.load.conftest import crm_view, snapshot
from tests.load.factory import DAY1, DAY2, make_batch, people
from tests.load.test_restart import Crash, _comparable, crash_at


def _tables(warehouse: Warehouse, pattern: str) -> list[str]:
    if warehouse.engine.dialect.name != "postgresql":
        return []
    with warehouse.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT relname FROM pg_class WHERE relname LIKE :p AND relkind IN ('r', 'p')"
                     " ORDER BY relname"),
                {"p": pattern},
            ).scalars()
        )  # fmt: skip


def _reference(tmp_path: Path, steps: Any) -> dict[str, list[str]]:
    """The snapshot of the same writes, uninterrupted, into a SQLite warehouse."""
    reference = Warehouse(f"sqlite:///{tmp_path / 'reference.db'}", chunk_rows=2)
    try:
        reference.upgrade()
        steps(reference)
        return _comparable(snapshot(reference.engine))
    finally:
        reference.dispose()


@pytest.mark.parametrize(
    ("stream", "chunk"), [("stg_customer", 2), ("stg_account", 1), ("stg_account", 3),
                          ("stg_customer_source", 2), ("stg_contact", 1), ("stg_reject", 1)],
)  # fmt: skip
def test_first_load_restarts_after_the_last_chunk(
    make_warehouse: Any, tmp_path: Path, stream: str, chunk: int
) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    batch = make_batch(people(10, accounts=3))
    with pytest.raises(Crash):
        warehouse.write_batch(batch, on_chunk=crash_at(stream, chunk))
    assert all(rows == [] for rows in crm_view(warehouse.engine).values())
    assert _tables(warehouse, "crm_account_p_%") == []  # nothing attached yet
    written: list[tuple[str, int]] = []
    result = warehouse.write_batch(batch, on_chunk=lambda s, c: written.append((s, c)))
    assert result.published and result.resumed and result.chunks_skipped > 0
    assert all(c > chunk for s, c in written if s == stream)
    if warehouse.engine.dialect.name == "postgresql":
        for table in (crm_account, crm_customer_source, crm_contact):
            assert _tables(warehouse, f"{table.name}_p_%") == [partition_name("ZJ", table)]
    assert _tables(warehouse, "stg_%_b%") == []
    expected = _reference(tmp_path, lambda ref: ref.write_batch(batch))
    assert _comparable(snapshot(warehouse.engine)) == expected


def test_failed_publication_attaches_nothing(
    make_warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    before = crm_view(warehouse.engine)
    real = publish._record_formulas

    def fail(*args: Any) -> None:
        raise Crash("inside the publication")

    monkeypatch.setattr(publish, "_record_formulas", fail)
    with pytest.raises(Crash):
        warehouse.write_batch(make_batch(people(6)))
    assert crm_view(warehouse.engine) == before
    assert _tables(warehouse, "crm_account_p_%") == []
    monkeypatch.setattr(publish, "_record_formulas", real)
    result = warehouse.write_batch(make_batch(people(6)))
    assert result.published and result.resumed and result.accounts == 8
    with warehouse.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(crm_account)).scalar_one() == 8


def test_partition_attached_by_another_batch_meanwhile(make_warehouse: Any,
                                                       tmp_path: Path) -> None:  # fmt: skip
    """Batch 1 staged its accounts into its own table; batch 2 of the same province then
    publishes first and attaches the partition: batch 1 is published row by row."""
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    first, second = make_batch(people(6)), make_batch(people(9), business_date=DAY2)

    def steps(target: Warehouse, hook: Any = None) -> None:
        if hook is not None:
            with pytest.raises(Crash):
                target.write_batch(first, on_chunk=hook)
        target.write_batch(second)
        assert target.write_batch(first).published

    steps(warehouse, crash_at("stg_reject", 1))
    if warehouse.engine.dialect.name == "postgresql":
        for table in (crm_account, crm_customer_source, crm_contact):
            assert _tables(warehouse, f"{table.name}_p_%") == [partition_name("ZJ", table)]
    assert _tables(warehouse, "stg_%_b%") == []
    assert warehouse.is_published(DAY1, "ZJ", "initial")
    expected = _reference(tmp_path, lambda ref: steps(ref, crash_at("stg_reject", 1)))
    assert _comparable(snapshot(warehouse.engine)) == expected


def test_abandoned_batch_drops_its_table(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    with pytest.raises(Crash):
        warehouse.write_batch(make_batch(people(6)), on_chunk=crash_at("stg_account", 1))
    if warehouse.engine.dialect.name == "postgresql":
        assert _tables(warehouse, "stg_%_b%") == sorted(
            [
                customer_table_name(1),
                *(batch_table_name(1, t) for t in (crm_account, crm_customer_source, crm_contact)),
            ]
        )
    assert warehouse.write_batch(make_batch(people(8))).published
    assert _tables(warehouse, "stg_%_b%") == []


def _reloptions(warehouse: Warehouse, name: str) -> list[str]:
    with warehouse.engine.connect() as conn:
        found = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = :n"), {"n": name}
        ).scalar_one()
    return sorted(found or [])


@pytest.mark.parametrize(
    "warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_batch_tables_are_not_autovacuumed_until_attached(make_warehouse: Any) -> None:
    """Autovacuum kept off a first load's own tables while they fill (it competed with the
    key builds and delayed the ATTACH), handed back to it once they are partitions."""
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    with pytest.raises(Crash):
        warehouse.write_batch(make_batch(people(6)), on_chunk=crash_at("stg_reject", 1))
    for table in (crm_account, crm_customer_source, crm_contact):
        assert _reloptions(warehouse, batch_table_name(1, table)) == ["autovacuum_enabled=false"]
    assert _reloptions(warehouse, customer_table_name(1)) == ["autovacuum_enabled=false"]
    assert warehouse.write_batch(make_batch(people(6))).published
    for table in (crm_account, crm_customer_source, crm_contact):
        assert _reloptions(warehouse, partition_name("ZJ", table)) == []


@pytest.mark.postgres
def test_migration_partitions_an_existing_warehouse(pg_db_url: str) -> None:
    warehouse = Warehouse(pg_db_url, chunk_rows=50)
    try:
        warehouse.upgrade()
        warehouse.write_batch(make_batch(people(6), province="ZJ"))
        warehouse.write_batch(make_batch(people(6, start=100), province="GD"))
        before = snapshot(warehouse.engine)
        config = warehouse._alembic()
        with warehouse.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        for table in (crm_account, crm_customer_source, crm_contact):
            assert _tables(warehouse, f"{table.name}%") == [table.name]
        assert snapshot(warehouse.engine) == before
        # an existing warehouse with rows of two provinces: one partition each
        warehouse.upgrade()
        for table in (crm_account, crm_customer_source, crm_contact):
            assert _tables(warehouse, f"{table.name}%") == [
                table.name,
                partition_name("GD", table),
                partition_name("ZJ", table),
            ]
        assert snapshot(warehouse.engine) == before
        # the next day's loads update the partitions row by row
        assert warehouse.write_batch(
            make_batch(people(8), province="ZJ", business_date=DAY2)
        ).published
        assert _tables(warehouse, "stg_%_b%") == []
    finally:
        warehouse.dispose()


def test_schema_still_matches_with_partitions_and_batch_tables(make_warehouse: Any) -> None:
    """Run-time tables (partitions, a first load's own table) are no schema drift."""
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    warehouse.write_batch(make_batch(people(6), province="GD"))
    with pytest.raises(Crash):
        warehouse.write_batch(make_batch(people(6)), on_chunk=crash_at("stg_account", 1))
    if warehouse.engine.dialect.name == "postgresql":
        assert _tables(warehouse, "stg_account_b%") and _tables(warehouse, "crm_account_p_%")
        assert _tables(warehouse, "stg_contact_b%") and _tables(warehouse, "crm_contact_p_%")
    with warehouse.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        assert compare_metadata(context, metadata) == []
