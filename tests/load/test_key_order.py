"""The primary keys of crm_account, crm_customer_source and crm_contact have the partition
key `province` last (migration 0006), on the parents, the partitions and a first load's
own tables alike; an existing warehouse is converted, data and interrupted loads kept.

Alembic's compare_metadata does not compare primary keys, hence these tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from load import Warehouse
from load.batch_tables import batch_table_name, partition_name
from load.tables import crm_account, crm_contact, crm_customer_source
from tests.load.conftest import snapshot
from tests.load.factory import DAY2, make_batch, people
from tests.load.test_partitions import _reference
from tests.load.test_restart import Crash, _comparable, crash_at

TABLES = (crm_customer_source, crm_contact, crm_account)
KEYS = {
    "crm_customer_source": ["source_cust_no", "source", "province"],
    "crm_contact": ["source_cust_no", "source", "province"],
    "crm_account": ["acct_no", "source", "province"],
}
OLD_KEYS = {name: list(reversed(key)) for name, key in KEYS.items()}


def _pk(engine: Engine, table: str) -> tuple[str | None, list[str]]:
    """(name, columns in index order) of `table`'s primary key."""
    found = inspect(engine).get_pk_constraint(table)
    return found["name"], list(found["constrained_columns"])


def _unique_indexes(engine: Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                    " WHERE i.indrelid = to_regclass(:t) AND i.indisunique ORDER BY 1"
                ),
                {"t": table},
            ).scalars()
        )


def _parent_index(engine: Engine, index: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = to_regclass(:i)"),
            {"i": index},
        ).scalar()  # fmt: skip


def _assert_partitions(engine: Engine, province: str, keys: dict[str, list[str]]) -> None:
    """Each partition of `province`: its key `<partition>_pkey` in the order `keys` says, the
    parent's key's index on it (attached, not another one beside it)."""
    for table in TABLES:
        partition = partition_name(province, table)
        assert _pk(engine, partition) == (f"{partition}_pkey", keys[table.name])
        assert _unique_indexes(engine, partition) == [f"{partition}_pkey"]
        assert _parent_index(engine, f"{partition}_pkey") == f"pk_{table.name}"


def _migrate(warehouse: Warehouse, revision: str) -> None:
    config = warehouse._alembic()
    with warehouse.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_models_put_the_partition_key_last() -> None:
    """load/accounts.py `prepare_attach` builds a first load's keys in this order."""
    for table in TABLES:
        assert [c.name for c in table.primary_key.columns] == KEYS[table.name]
        assert table.primary_key.name == f"pk_{table.name}"


def test_keys_put_the_partition_key_last(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    engine = warehouse.engine
    postgres = engine.dialect.name == "postgresql"
    warehouse.write_batch(make_batch(people(6), province="ZJ"))
    gd = make_batch(people(6, start=100), province="GD")
    with pytest.raises(Crash):
        warehouse.write_batch(gd, on_chunk=crash_at("stg_reject", 1))
    for table in TABLES:
        assert _pk(engine, table.name) == (f"pk_{table.name}", KEYS[table.name])
        if postgres:  # the interrupted first load's own table, keys built
            name = batch_table_name(2, table)
            assert _pk(engine, name) == (f"{name}_pkey", KEYS[table.name])
    if postgres:
        _assert_partitions(engine, "ZJ", KEYS)
    assert warehouse.write_batch(gd).published
    if postgres:
        _assert_partitions(engine, "GD", KEYS)


def test_migration_reorders_the_keys_of_an_existing_warehouse(
    warehouse_url: str, tmp_path: Path
) -> None:
    """0005 -> 0006 with a province's partitions and another's interrupted first load (its
    own tables' keys built in the old order): the rows kept, the keys in the new order,
    the interrupted load resumed and attached, a later load published row by row."""
    zj, gd = make_batch(people(6), province="ZJ"), make_batch(people(6, start=100), province="GD")
    zj_next = make_batch(people(8), province="ZJ", business_date=DAY2)
    warehouse = Warehouse(warehouse_url, chunk_rows=2)
    try:
        engine = warehouse.engine
        postgres = engine.dialect.name == "postgresql"
        warehouse.upgrade()
        warehouse.write_batch(zj)
        with pytest.raises(Crash):
            warehouse.write_batch(gd, on_chunk=crash_at("stg_reject", 1))
        _migrate(warehouse, "0005")
        for table in TABLES:
            assert _pk(engine, table.name) == (f"pk_{table.name}", OLD_KEYS[table.name])
        if postgres:
            _assert_partitions(engine, "ZJ", OLD_KEYS)
            with engine.begin() as conn:
                for table in TABLES:  # GD's keys as load/accounts.py built them before 0006
                    name = batch_table_name(2, table)
                    assert _pk(engine, name) == (None, [])  # dropped by the downgrade
                    conn.exec_driver_sql(
                        f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey"
                        f" PRIMARY KEY ({', '.join(OLD_KEYS[table.name])})"
                    )
        before = snapshot(engine)

        warehouse.upgrade()
        assert warehouse.revision() == warehouse.head()  # 0006 re-keys, later ones add tables
        for table in TABLES:
            assert _pk(engine, table.name) == (f"pk_{table.name}", KEYS[table.name])
        if postgres:
            _assert_partitions(engine, "ZJ", KEYS)
            for table in TABLES:  # built again, in the new order, by the restart
                assert _pk(engine, batch_table_name(2, table)) == (None, [])
        assert snapshot(engine) == before

        result = warehouse.write_batch(gd)
        assert result.published and result.resumed
        if postgres:
            _assert_partitions(engine, "GD", KEYS)
        assert warehouse.write_batch(zj_next).published

        def steps(reference: Warehouse) -> None:
            for batch in (zj, gd, zj_next):
                reference.write_batch(batch)

        assert _comparable(snapshot(engine)) == _reference(tmp_path, steps)
    finally:
        warehouse.dispose()
