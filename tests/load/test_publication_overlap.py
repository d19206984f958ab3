"""PostgreSQL: the publication writes the CRM customers while the accounts, source records
and contacts are still being staged, and nothing of it is visible before it commits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from load import Warehouse
from load.tables import crm_customer
from tests.load.factory import make_batch, people

_WRITING_CUSTOMERS = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
    " WHERE c.relname = 'crm_customer' AND l.mode = 'RowExclusiveLock' AND l.granted"
    " AND l.pid <> pg_backend_pid()"
)


@pytest.mark.parametrize(
    "warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_customers_are_written_while_the_rest_is_staged(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    seen: dict[str, int] = {}

    def before_publish() -> None:
        """Called once the rest is staged, before the publication may go on: by then the
        publication has begun (it waits for this) and written crm_customer, uncommitted."""
        deadline = time.monotonic() + 10
        with warehouse.engine.connect() as conn:
            while time.monotonic() < deadline:
                seen["writing"] = conn.execute(_WRITING_CUSTOMERS).scalar_one()
                if seen["writing"]:
                    break
                time.sleep(0.05)
            seen["visible"] = conn.execute(
                select(func.count()).select_from(crm_customer)
            ).scalar_one()

    result = warehouse.write_batch(make_batch(people(6)), before_publish=before_publish)
    assert result.published and result.customers > 0
    assert seen == {"writing": 1, "visible": 0}
    with warehouse.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(crm_customer)).scalar_one()
    assert count == result.customers
