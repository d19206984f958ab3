"""A batch whose big tables are TableParts (Parquet parts, one per bucket) is staged part by
part and publishes exactly what the same batch in memory publishes; a crash between two
chunks resumes without writing a committed chunk again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from common.batch import ProvinceBatch, TableParts
from load import Warehouse
from load.tables import crm_checkpoint, crm_customer, crm_load_batch
from tests.load.conftest import snapshot
from tests.load.factory import DAY1, DAY2, Cust, as_parts, make_batch, people
from tests.load.test_restart import Crash, crash_at


@pytest.fixture
def other_url(warehouse_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as `warehouse_url`."""
    if warehouse_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server = request.getfixturevalue("pg_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture(autouse=True)
def no_whole_table_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load must never read a TableParts whole (all parts at once)."""

    def refuse(self: TableParts, *_: Any, **__: Any) -> Any:
        raise AssertionError("a TableParts was read whole")

    monkeypatch.setattr(TableParts, "read", refuse)


def day1() -> list[Cust]:
    return people(14, accounts=3)


def day2() -> list[Cust]:
    """The next day: customer 0 falls under the threshold, 1 qualifies, two new ones."""
    customers = people(16, accounts=3)
    customers[0].score, customers[0].qualified = "1000.00", False
    customers[1].score, customers[1].qualified = "700000.00", True
    customers[4].accounts = 1
    return customers


def without_fingerprint(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """The fingerprint names the part count; everything else must be equal."""
    columns = [c.name for c in crm_load_batch.columns if c.name not in
               ("created_at", "published_at")]  # fmt: skip
    where = columns.index("fingerprint")
    batches = [row[:where] + row[where + 1 :] for row in snap["crm_load_batch"]]
    return {**snap, "crm_load_batch": batches}


def write(url: str, batches: list[ProvinceBatch], chunk_rows: int = 2) -> dict[str, Any]:
    warehouse = Warehouse(url, chunk_rows=chunk_rows)
    try:
        warehouse.upgrade()
        for batch in batches:
            assert warehouse.write_batch(batch).published
        return without_fingerprint(snapshot(warehouse.engine))
    finally:
        warehouse.dispose()


@pytest.mark.parametrize(("parts", "empty"), [(3, -1), (4, 2), (1, -1)])
def test_parts_publish_what_tables_publish(
    warehouse_url: str, other_url: str, tmp_path: Path, parts: int, empty: int
) -> None:
    first, later = make_batch(day1()), make_batch(day2(), business_date=DAY2)
    in_parts = [
        as_parts(first, tmp_path / "d1", parts, empty=empty),
        as_parts(later, tmp_path / "d2", parts, empty=empty),
    ]
    assert isinstance(in_parts[0].accounts, TableParts) and len(in_parts[0].accounts) == parts
    expected = write(other_url, [first, later])
    assert write(warehouse_url, in_parts) == expected
    assert expected["crm_customer"] and expected["crm_account"]  # not trivially equal


def _chunks(warehouse: Warehouse) -> list[tuple[str, int]]:
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            select(crm_checkpoint.c.stream, crm_checkpoint.c.chunk, func.count())
            .where(crm_checkpoint.c.batch_id.is_not(None))
            .group_by(crm_checkpoint.c.batch_id, crm_checkpoint.c.stream, crm_checkpoint.c.chunk)
            .having(func.count() > 1)
        ).all()
    return [(row[0], row[1]) for row in rows]


@pytest.mark.parametrize(
    ("later", "stream", "chunk"),
    [(False, "stg_customer", 2), (False, "stg_customer_source", 3), (False, "stg_contact", 4),
     (False, "stg_account", 1), (False, "stg_account", 5), (False, "stg_reject", 1),
     (True, "stg_customer", 5), (True, "stg_contact", 2), (True, "stg_account", 7)],
)  # fmt: skip
def test_parts_restart_after_a_crash_between_chunks(
    make_warehouse: Any, other_url: str, tmp_path: Path, later: bool, stream: str, chunk: int
) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    first = make_batch(day1())
    batches = [first, make_batch(day2(), business_date=DAY2)] if later else [first]
    if later:
        warehouse.write_batch(first)
    batch = as_parts(batches[-1], tmp_path / "parts", 3)
    with pytest.raises(Crash):
        warehouse.write_batch(batch, on_chunk=crash_at(stream, chunk))
    assert warehouse.batch_status(batch.business_date, "ZJ", "initial") == "staging"

    written: list[tuple[str, int]] = []
    again = as_parts(batches[-1], tmp_path / "again", 3)  # the same parts, written anew
    result = warehouse.write_batch(again, on_chunk=lambda s, c: written.append((s, c)))
    assert result.published and result.resumed and result.chunks_skipped > 0
    assert all(c > chunk for s, c in written if s == stream)  # committed chunks not redone
    assert _chunks(warehouse) == []  # no chunk number was committed twice
    expected = write(other_url, batches)
    assert without_fingerprint(snapshot(warehouse.engine)) == expected


def test_chunks_never_span_parts(make_warehouse: Any, tmp_path: Path) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=4)
    batch = as_parts(make_batch(people(14, accounts=3)), tmp_path, 3)
    seen: list[tuple[str, int]] = []
    warehouse.write_batch(batch, on_chunk=lambda s, c: seen.append((s, c)))
    assert isinstance(batch.accounts, TableParts)
    # accounts of the 7 qualified customers: per part, whole chunks of 4 and a remainder
    with warehouse.engine.connect() as conn:
        positions = conn.execute(
            select(crm_checkpoint.c.position)
            .where(crm_checkpoint.c.stream == "stg_account")
            .order_by(crm_checkpoint.c.chunk)
        ).scalars()
        parts = [dict(f.split("=") for f in p.split(";")) for p in positions]
    per_part: dict[str, list[int]] = {}
    for position in parts:
        per_part.setdefault(position["part"], []).append(int(position["at"]))
    assert len(per_part) > 1
    for ats in per_part.values():
        assert ats == sorted(ats) and all(b - a <= 4 for a, b in zip([0, *ats], ats, strict=False))
    assert sum(at[-1] for at in per_part.values()) == int(parts[-1]["rows"])


def test_first_load_restaged_when_the_province_was_published_meanwhile(
    make_warehouse: Any, tmp_path: Path
) -> None:
    """A first load stages only its qualified customers; if another batch of the province
    is published before it, its customers that are not qualified any more must still get
    their new score: the batch is written again, every customer staged."""
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    first = as_parts(make_batch(people(6), business_date=DAY1), tmp_path, 2)  # 0, 2, 4 qualify
    with pytest.raises(Crash):
        warehouse.write_batch(first, on_chunk=crash_at("stg_account", 1))
    other = make_batch(people(6, qualified_every=1), business_date=DAY2)  # all qualify
    assert warehouse.write_batch(other).published
    result = warehouse.write_batch(first)
    assert result.published and not result.resumed
    with warehouse.engine.connect() as conn:
        rows = conn.execute(select(crm_customer).order_by(crm_customer.c.id_no)).all()
        statuses = list(
            conn.execute(
                select(crm_load_batch.c.status).order_by(crm_load_batch.c.batch_id)
            ).scalars()
        )
    assert statuses == ["abandoned", "published", "published"]
    assert [r.qualified for r in rows] == [True, False, True, False, True, False]
    assert all(r.batch_id == result.batch_id for r in rows if not r.qualified)
