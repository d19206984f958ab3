"""Publication: rows appear only with a published batch, stable ids, never-deleted customers."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, func, select

from load import Warehouse
from load.tables import (
    crm_account,
    crm_contact,
    crm_customer,
    crm_customer_source,
    crm_file_count,
    crm_formula,
    crm_load_batch,
    crm_reject,
    stg_account,
)
from tests.load.conftest import crm_view, snapshot
from tests.load.factory import DAY1, DAY2, Cust, make_batch, people


def ids_by_key(warehouse: Warehouse, province: str | None = None) -> dict[str, int]:
    query = select(crm_customer.c.id_no, crm_customer.c.crm_cust_id)
    if province:
        query = query.where(crm_customer.c.province == province)
    with warehouse.engine.connect() as conn:
        return {row.id_no: row.crm_cust_id for row in conn.execute(query)}


def count(warehouse: Warehouse, table: Any, *where: Any) -> int:
    with warehouse.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_publish_makes_rows_visible(warehouse: Warehouse) -> None:
    customers = people(6)
    customers[0].balance = "123456789012.12"  # exact on both databases
    result = warehouse.write_batch(make_batch(customers))
    assert result.published
    assert (result.customers, result.qualified, result.new_ids) == (3, 3, 3)
    assert warehouse.is_published(DAY1, "ZJ", "initial")
    assert not warehouse.is_published(DAY2, "ZJ", "initial")
    with warehouse.engine.connect() as conn:
        batch = conn.execute(select(crm_load_batch)).one()
        assert batch.status == "published" and batch.published_at is not None
        assert (batch.customers, batch.qualified, batch.accounts, batch.rejects) == (3, 3, 8, 3)
        rows = conn.execute(select(crm_customer).order_by(crm_customer.c.crm_cust_id)).all()
        assert [r.id_no for r in rows] == ["330100000000000000", "330100000000000002",
                                           "330100000000000004"]  # fmt: skip
        assert all(r.qualified and r.batch_id == batch.batch_id for r in rows)
        assert rows[0].score == Decimal("600000.00")
        first = rows[0].crm_cust_id
        balances = conn.execute(
            select(crm_account.c.balance, crm_account.c.balance_cny)
            .where(crm_account.c.crm_cust_id == first)
            .order_by(crm_account.c.acct_no)
        ).all()
    # customer 0 has RTL and CRD records, 2 accounts each (CNY, then USD at 712.3456)
    assert balances[0] == (Decimal("123456789012.12"), Decimal("123456789012.12000000"))
    assert balances[1] == (
        Decimal("123456789012.12"),
        Decimal("123456789012.12") * Decimal("712.3456") / 100,
    )
    assert count(warehouse, crm_customer_source) == 4
    assert count(warehouse, crm_customer_source, crm_customer_source.c.role == "master") == 3
    assert count(warehouse, crm_contact) == 4
    assert count(warehouse, crm_account) == 8
    assert count(warehouse, crm_reject) == 3
    assert count(warehouse, crm_file_count) == 1
    assert count(warehouse, crm_formula) == 1
    assert count(warehouse, stg_account) == 0  # staging emptied after publication


def test_crm_view_never_shows_a_partial_batch(make_warehouse: Any) -> None:
    warehouse = make_warehouse(chunk_rows=2)
    warehouse.write_batch(make_batch(people(6)))
    before = crm_view(warehouse.engine)
    reader = create_engine(warehouse.url)  # a second connection, like the CRM's
    seen: list[str] = []

    def look(stream: str, chunk: int) -> None:
        assert crm_view(reader) == before, f"CRM tables changed during {stream} #{chunk}"
        with reader.connect() as conn:
            published = conn.execute(
                select(func.count()).where(crm_load_batch.c.status == "published")
            ).scalar_one()
        assert published == 1
        seen.append(stream)

    try:
        bigger = make_batch(people(10), business_date=DAY2)
        result = warehouse.write_batch(bigger, on_chunk=look)
    finally:
        reader.dispose()
    assert result.published and "stg_account" in seen and len(seen) >= 10
    assert crm_view(warehouse.engine) != before
    assert count(warehouse, crm_customer) == 5


def test_ids_are_stable_across_batches_and_province_order(warehouse: Warehouse) -> None:
    warehouse.write_batch(make_batch(people(6), province="ZJ"))
    warehouse.write_batch(make_batch(people(6, start=100), province="GD"))
    zj, gd = ids_by_key(warehouse, "ZJ"), ids_by_key(warehouse, "GD")
    assert set(zj.values()).isdisjoint(gd.values())
    # Next day: provinces in the other order, rows shuffled, new customers in between.
    later_gd = people(8, start=99)
    later_zj = people(9)
    random.Random(7).shuffle(later_zj)
    warehouse.write_batch(make_batch(later_gd, province="GD", business_date=DAY2))
    warehouse.write_batch(make_batch(later_zj, province="ZJ", business_date=DAY2))
    zj2, gd2 = ids_by_key(warehouse, "ZJ"), ids_by_key(warehouse, "GD")
    assert {k: zj2[k] for k in zj} == zj
    assert {k: gd2[k] for k in gd} == gd
    new = sorted(set(zj2) - set(zj))
    assert new and min(zj2[k] for k in new) > max([*zj.values(), *gd2.values()])
    # ... and never reused: every id is distinct
    every = [*zj2.values(), *gd2.values()]
    assert len(every) == len(set(every))


def test_new_ids_follow_sorted_key_order(make_warehouse: Any) -> None:
    customers = people(8, qualified_every=1)
    random.Random(3).shuffle(customers)
    warehouse = make_warehouse()
    warehouse.write_batch(make_batch(customers))
    ids = ids_by_key(warehouse)
    assert sorted(ids, key=ids.__getitem__) == sorted(ids)


def test_customer_under_threshold_stays_unqualified(warehouse: Warehouse) -> None:
    day1 = [Cust("330100000000000001", "700000.00", True),
            Cust("330100000000000002", "900000.00", True),
            Cust("330100000000000003", "100.00", False)]  # fmt: skip
    warehouse.write_batch(make_batch(day1))
    before = ids_by_key(warehouse)
    day2 = [Cust("330100000000000001", "499999.99", False, accounts=1),
            Cust("330100000000000002", "900000.00", True),
            Cust("330100000000000003", "200.00", False)]  # fmt: skip
    warehouse.write_batch(make_batch(day2, business_date=DAY2))
    assert ids_by_key(warehouse) == before  # nobody deleted, nobody added
    with warehouse.engine.connect() as conn:
        fallen = conn.execute(
            select(crm_customer).where(crm_customer.c.id_no == "330100000000000001")
        ).one()
        kept = conn.execute(
            select(crm_customer).where(crm_customer.c.id_no == "330100000000000002")
        ).one()
        batches = dict(conn.execute(select(crm_load_batch.c.business_date,
                                           crm_load_batch.c.batch_id)).all())  # fmt: skip
    assert fallen.qualified is False and fallen.score == Decimal("499999.99")
    assert fallen.batch_id == batches[DAY2]
    assert kept.batch_id == batches[DAY1]  # unchanged row: batch that last changed it
    assert count(warehouse, crm_account, crm_account.c.crm_cust_id == fallen.crm_cust_id) == 1


def test_second_write_of_a_published_date_changes_nothing(warehouse: Warehouse) -> None:
    first = warehouse.write_batch(make_batch(people(6)))
    before = snapshot(warehouse.engine)
    again = warehouse.write_batch(make_batch(people(8)))
    assert again.status == "unchanged" and again.batch_id == first.batch_id
    assert snapshot(warehouse.engine) == before


def test_force_redoes_a_published_date_cleanly(warehouse: Warehouse) -> None:
    first = warehouse.write_batch(make_batch(people(6), rejects=5))
    redo = warehouse.write_batch(make_batch(people(8), rejects=2), force=True)
    assert redo.published and redo.batch_id != first.batch_id
    with warehouse.engine.connect() as conn:
        statuses = dict(conn.execute(select(crm_load_batch.c.batch_id,
                                            crm_load_batch.c.status)).all())  # fmt: skip
        customer_batches = set(conn.execute(select(crm_customer.c.batch_id)).scalars())
        reject_batches = set(conn.execute(select(crm_reject.c.batch_id)).scalars())
    assert statuses == {first.batch_id: "superseded", redo.batch_id: "published"}
    assert customer_batches == {redo.batch_id} and reject_batches == {redo.batch_id}
    assert count(warehouse, crm_reject) == 2
    assert count(warehouse, crm_customer) == 4
    # the same result as a single write of the new content into an empty warehouse
    assert len(ids_by_key(warehouse)) == 4
