"""Two provinces writing one SQLite warehouse at the same time both publish.

SQLite has one writer at a time. A deferred `BEGIN` that reads first and writes later
cannot wait for the other writer (its snapshot is stale: SQLITE_BUSY at once, "database
is locked"), so write transactions begin with `BEGIN IMMEDIATE` and wait their turn
(busy timeout), see load/warehouse.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from load import BatchResult, Warehouse
from load.tables import crm_account, crm_customer
from tests.load.factory import DAY1, make_batch, people

PROVINCES = {"ZJ": 0, "GD": 1000}


def test_two_provinces_written_at_once_to_one_sqlite_file_both_publish(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    setup = Warehouse(url)
    setup.upgrade()
    setup.dispose()
    # Both writers wait at their first account chunk until the other is there: their
    # stagings and publications overlap rather than run one after the other.
    barrier = threading.Barrier(len(PROVINCES), timeout=60)

    def hook(stream: str, chunk: int) -> None:
        if stream == "stg_account" and chunk == 1:
            barrier.wait()

    outcomes: dict[str, Any] = {}

    def write(province: str, start: int) -> None:
        warehouse = Warehouse(url, chunk_rows=20)
        try:
            batch = make_batch(people(200, start=start, accounts=3), province=province)
            outcomes[province] = warehouse.write_batch(batch, on_chunk=hook)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcomes[province] = exc
            barrier.abort()  # the other writer need not wait for this one
        finally:
            warehouse.dispose()

    threads = [
        threading.Thread(target=write, args=(p, s), daemon=True) for p, s in PROVINCES.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
        assert not thread.is_alive(), "a province's load hung"
    failed = {p: r for p, r in outcomes.items() if not isinstance(r, BatchResult)}
    # The first failure is the cause; the other writer then sees a broken barrier.
    assert not failed, failed
    for province in PROVINCES:
        result = outcomes[province]
        assert isinstance(result, BatchResult), f"{province}: {result!r}"
        assert result.published and result.customers == 100
    check = Warehouse(url)
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
        assert len(ids) == len(set(ids)) == 200
        assert accounts == sum(r.accounts for r in outcomes.values())
        assert all(check.is_published(DAY1, p, "initial") for p in PROVINCES)
    finally:
        check.dispose()
