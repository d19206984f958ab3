"""A province's first registration of stable ids (load.registration._register_all on
PostgreSQL): numbers given in byte order of (cust_type, id_type, id_no), as the SQL
registration gives them, written by several connections; a registration that fails
half-way is completed by the rerun."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from load import Warehouse, registration
from load.tables import crm_customer, crm_customer_key
from tests.load.factory import Cust, make_batch

# id types of different lengths and numbers that are prefixes of others: byte order of the
# three parts is not the order of their '|'-joined key ("P|1|..." > "P|10|...").
IDENTITIES = [
    (cust_type, id_type, id_no)
    for cust_type in ("P", "C")
    for id_type in ("1", "10", "01", "2")
    for id_no in ("9", "10", "100", "330100000000000001")
]


def _customers() -> list[Cust]:
    made = [
        Cust(id_no, "600000.00", True, cust_type=cust_type, id_type=id_type,
             sources=[f"RTL:R{i:06d}"])
        for i, (cust_type, id_type, id_no) in enumerate(IDENTITIES)
    ]  # fmt: skip
    random.Random(11).shuffle(made)
    return made


def _ids(warehouse: Warehouse) -> dict[tuple[str, str, str], int]:
    c = crm_customer.c
    with warehouse.engine.connect() as conn:
        rows = conn.execute(select(c.cust_type, c.id_type, c.id_no, c.crm_cust_id)).all()
    return {(r.cust_type, r.id_type, r.id_no): r.crm_cust_id for r in rows}


def test_first_ids_follow_byte_order_of_the_identity(
    make_warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registration, "REGISTER_SLICE_ROWS", 3)  # several copies a connection
    warehouse: Warehouse = make_warehouse()
    assert warehouse.write_batch(make_batch(_customers())).published
    ids = _ids(warehouse)
    assert len(ids) == len(IDENTITIES)
    in_byte_order = sorted(ids, key=lambda k: tuple(part.encode() for part in k))
    assert sorted(ids, key=ids.__getitem__) == in_byte_order
    assert len(set(ids.values())) == len(ids)
    with warehouse.engine.connect() as conn:
        registry = conn.execute(select(crm_customer_key.c.crm_cust_id)).scalars().all()
    assert sorted(registry) == sorted(ids.values())


@pytest.mark.parametrize(
    "warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_registration_that_fails_half_way_is_completed_by_the_rerun(
    make_warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse: Warehouse = make_warehouse()
    real = registration.copy_rows
    copies: list[int] = []

    def second_copy_fails(conn: Any, target: Any, columns: list[str], part: Any) -> None:
        if target is crm_customer_key:
            copies.append(part.num_rows)
            if len(copies) == 2:
                raise RuntimeError("the second registration copy fails")
        real(conn, target, columns, part)

    monkeypatch.setattr(registration, "copy_rows", second_copy_fails)
    with pytest.raises(RuntimeError, match="second registration copy"):
        warehouse.write_batch(make_batch(_customers()))
    monkeypatch.setattr(registration, "copy_rows", real)
    with warehouse.engine.connect() as conn:
        written = len(conn.execute(select(crm_customer_key.c.crm_cust_id)).all())
    assert 0 < written < len(IDENTITIES)  # one of the two copies was committed
    result = warehouse.write_batch(make_batch(_customers()))
    assert result.published and result.resumed
    ids = _ids(warehouse)
    assert set(ids) == set(IDENTITIES) and len(set(ids.values())) == len(ids)
