"""Several provinces loading into one PostgreSQL at the same time neither block nor collide."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

from load import BatchResult, Warehouse
from load.tables import crm_account, crm_customer
from tests.load.factory import DAY1, DAY2, make_batch, people

pytestmark = [pytest.mark.postgres]

PROVINCES = {"ZJ": 0, "GD": 1000, "SZ": 2000}


def _in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_provinces_written_concurrently_are_all_published(pg_db_url: str) -> None:
    setup = Warehouse(pg_db_url)
    setup.upgrade()
    setup.dispose()
    # Every writer waits at its first account chunk until all are there: they are
    # provably staging at the same time, and none is blocked by another.
    barrier = threading.Barrier(len(PROVINCES), timeout=60)

    def hook(stream: str, chunk: int) -> None:
        if (stream, chunk) == ("stg_account", 1):
            barrier.wait()

    def write(province: str, start: int) -> BatchResult:
        warehouse = Warehouse(pg_db_url, chunk_rows=50)
        try:
            batch = make_batch(people(200, start=start, accounts=3), province=province)
            return warehouse.write_batch(batch, on_chunk=hook)
        finally:
            warehouse.dispose()

    threads = [_in_thread(lambda p=p, s=s: write(p, s)) for p, s in PROVINCES.items()]
    for thread, _ in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a province's load hung"
    results = [outcome[0] for _, outcome in threads]
    for result in results:
        assert isinstance(result, BatchResult), result
        assert result.published and result.customers == 100
    check = Warehouse(pg_db_url)
    try:
        with check.engine.connect() as conn:
            per_province = dict(
                conn.execute(
                    select(crm_customer.c.province, func.count()).group_by(crm_customer.c.province)
                ).all()
            )
            ids = conn.execute(select(crm_customer.c.crm_cust_id)).scalars().all()
            accounts = conn.execute(select(func.count()).select_from(crm_account)).scalar_one()
        assert per_province == {p: 100 for p in PROVINCES}
        assert len(ids) == len(set(ids)) == 300
        assert accounts == sum(r.accounts for r in results)
        assert all(check.is_published(DAY1, p, "initial") for p in PROVINCES)
    finally:
        check.dispose()


def test_a_province_is_not_blocked_by_another_ones_open_transaction(pg_db_url: str) -> None:
    warehouse = Warehouse(pg_db_url, chunk_rows=20)
    warehouse.upgrade()
    try:
        warehouse.write_batch(make_batch(people(40, start=1000), province="GD"))
        warehouse.write_batch(make_batch(people(40), province="ZJ"))
        holder = warehouse.engine.connect()
        try:
            # GD is in the middle of publishing: its rows are locked, uncommitted.
            holder.execute(text("UPDATE crm_customer SET name = 'x' WHERE province = 'GD'"))
            holder.execute(text("UPDATE crm_account SET status = 'F' WHERE province = 'GD'"))
            holder.execute(
                text(
                    "INSERT INTO crm_customer_key (province, cust_type, id_type, id_no,"
                    " batch_id, assigned_at) VALUES ('GD', 'P', '01', 'NEW', 1, now())"
                )
            )
            holder.execute(text("UPDATE crm_load_batch SET rejects = 0 WHERE province = 'GD'"))
            thread, outcome = _in_thread(
                lambda: warehouse.write_batch(
                    make_batch(people(60), province="ZJ", business_date=DAY2)
                )
            )
            thread.join(timeout=60)
            assert not thread.is_alive(), "ZJ waited for GD's locks"
            assert isinstance(outcome[0], BatchResult) and outcome[0].published
        finally:
            holder.rollback()
            holder.close()
    finally:
        warehouse.dispose()


def test_a_first_load_attaches_while_others_hold_rows_and_readers_read(pg_db_url: str) -> None:
    """A province's first publication attaches a partition to crm_account: it must not wait
    for another province's open row writes, nor for a CRM reader's open transaction."""
    warehouse = Warehouse(pg_db_url, chunk_rows=20)
    warehouse.upgrade()
    try:
        warehouse.write_batch(make_batch(people(40, start=1000), province="GD"))
        holder = warehouse.engine.connect()
        reader = warehouse.engine.connect()
        try:
            holder.execute(text("UPDATE crm_account SET status = 'F' WHERE province = 'GD'"))
            reader.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            seen = reader.execute(select(func.count()).select_from(crm_account)).scalar_one()
            thread, outcome = _in_thread(
                lambda: warehouse.write_batch(make_batch(people(60), province="SZ"))
            )
            thread.join(timeout=60)
            assert not thread.is_alive(), "SZ's first publication waited for GD or a reader"
            assert isinstance(outcome[0], BatchResult) and outcome[0].published
            # the reader's snapshot predates the publication: no SZ batch is published in it
            published = reader.execute(
                text("SELECT count(*) FROM crm_load_batch WHERE status = 'published'")
            ).scalar_one()
            assert published == 1 and seen > 0
        finally:
            reader.rollback()
            reader.close()
            holder.rollback()
            holder.close()
        with warehouse.engine.connect() as conn:
            sz = conn.execute(
                select(func.count()).select_from(crm_account).where(crm_account.c.province == "SZ")
            ).scalar_one()
        assert sz == outcome[0].accounts > 0
    finally:
        warehouse.dispose()


def test_repeatable_read_reader_following_the_rule_sees_no_partial_first_load(
    pg_db_url: str,
) -> None:
    """The caveat of docs/warehouse.md: a REPEATABLE READ snapshot taken while a province's
    first load is staged can, once the partition is attached, see its accounts; joined to
    the published batches (the CRM's rule) it sees none of them."""
    warehouse = Warehouse(pg_db_url, chunk_rows=20)
    warehouse.upgrade()

    def stop(stream: str, chunk: int) -> None:
        if (stream, chunk) == ("stg_reject", 1):
            raise RuntimeError("stopped before publication")

    rule = text(
        "SELECT count(*) FROM crm_account a JOIN crm_load_batch b ON b.batch_id = a.batch_id"
        " WHERE b.status = 'published' AND a.province = 'SZ'"
    )
    try:
        warehouse.write_batch(make_batch(people(40, start=1000), province="GD"))
        batch = make_batch(people(60), province="SZ")
        with pytest.raises(RuntimeError):
            warehouse.write_batch(batch, on_chunk=stop)  # SZ's accounts staged, not published
        reader = warehouse.engine.connect()
        try:
            reader.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            assert reader.execute(rule).scalar_one() == 0
            assert warehouse.write_batch(batch).published
            assert reader.execute(rule).scalar_one() == 0
            customers = text("SELECT count(*) FROM crm_customer WHERE province = 'SZ'")
            assert reader.execute(customers).scalar_one() == 0
        finally:
            reader.rollback()
            reader.close()
        with warehouse.engine.connect() as conn:
            assert conn.execute(rule).scalar_one() > 0
    finally:
        warehouse.dispose()


def test_one_province_registering_the_same_customers_at_once(pg_db_url: str) -> None:
    """Two batches of one province resolve ids at the same moment for the same people: the
    registry lock makes one wait for the other (no unique violation without ON CONFLICT),
    and every person has one number."""
    setup = Warehouse(pg_db_url)
    setup.upgrade()
    setup.dispose()
    barrier = threading.Barrier(2, timeout=60)

    def write(business_date: Any) -> BatchResult:
        waited: list[bool] = []

        def hook(stream: str, chunk: int) -> None:
            # The last customer chunk, ids next; only once (the first load that loses the
            # race is written again, see ScopeChanged).
            if (stream, chunk) == ("stg_customer", 1) and not waited:
                waited.append(True)
                barrier.wait()

        warehouse = Warehouse(pg_db_url, chunk_rows=1000)
        try:
            batch = make_batch(people(300, accounts=1), business_date=business_date)
            return warehouse.write_batch(batch, on_chunk=hook)
        finally:
            warehouse.dispose()

    threads = [_in_thread(lambda d=d: write(d)) for d in (DAY1, DAY2)]
    for thread, _ in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a registration hung"
    for _, outcome in threads:
        assert isinstance(outcome[0], BatchResult) and outcome[0].published, outcome[0]
    check = Warehouse(pg_db_url)
    try:
        with check.engine.connect() as conn:
            keys = conn.execute(
                text("SELECT count(*), count(DISTINCT (cust_type, id_type, id_no))"
                     " FROM crm_customer_key WHERE province = 'ZJ'")
            ).one()  # fmt: skip
            customers = conn.execute(select(func.count()).select_from(crm_customer)).scalar_one()
    finally:
        check.dispose()
    assert keys[0] == keys[1] > 0
    assert customers == keys[0]
