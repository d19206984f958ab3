"""A write interrupted between two chunks resumes after the last committed chunk."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from load import Warehouse
from load.tables import crm_checkpoint, crm_load_batch
from tests.load.conftest import crm_view, snapshot
from tests.load.factory import DAY2, make_batch, people


class Crash(Exception):
    pass


def crash_at(stream: str, chunk: int) -> Any:
    def hook(at_stream: str, at_chunk: int) -> None:
        if (at_stream, at_chunk) == (stream, chunk):
            raise Crash(f"{stream} #{chunk}")

    return hook


@pytest.mark.parametrize(
    ("stream", "chunk"),
    [("stg_customer", 1), ("stg_customer", 3), ("stg_customer_source", 1), ("stg_contact", 2),
     ("stg_account", 1), ("stg_account", 4), ("stg_reject", 1)],
)  # fmt: skip
def test_restart_continues_from_the_checkpoint(make_warehouse: Any, tmp_path: Any,
                                               stream: str, chunk: int) -> None:  # fmt: skip
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    warehouse.write_batch(make_batch(people(6)))
    before = crm_view(warehouse.engine)
    batch = make_batch(people(10, accounts=3), business_date=DAY2)
    with pytest.raises(Crash):
        warehouse.write_batch(batch, on_chunk=crash_at(stream, chunk))
    assert crm_view(warehouse.engine) == before  # the CRM still sees the previous state
    assert not warehouse.is_published(DAY2, "ZJ", "initial")
    assert warehouse.batch_status(DAY2, "ZJ", "initial") == "staging"

    written: list[tuple[str, int]] = []
    result = warehouse.write_batch(batch, on_chunk=lambda s, c: written.append((s, c)))
    assert result.published and result.resumed
    assert result.chunks_skipped > 0
    # no committed chunk was written twice
    assert (stream, chunk) not in written
    assert all(c > chunk for s, c in written if s == stream)

    # the same warehouse as an uninterrupted run
    other = make_warehouse(chunk_rows=2)
    other_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = Warehouse(other_url, chunk_rows=2)
    try:
        reference.upgrade()
        reference.write_batch(make_batch(people(6)))
        reference.write_batch(batch)
        assert _comparable(snapshot(warehouse.engine)) == _comparable(snapshot(reference.engine))
    finally:
        reference.dispose()
        other.dispose()
    with warehouse.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(crm_load_batch)).scalar_one() == 2


def _comparable(snap: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[str]]:
    """Rows as text (SQLite and PostgreSQL give ints/bools/decimals of different classes)."""
    return {name: sorted(repr(tuple(str(v) for v in row)) for row in rows)
            for name, rows in snap.items()}  # fmt: skip


def test_changed_content_abandons_the_unfinished_batch(make_warehouse: Any) -> None:
    warehouse: Warehouse = make_warehouse(chunk_rows=2)
    with pytest.raises(Crash):
        warehouse.write_batch(make_batch(people(6)), on_chunk=crash_at("stg_account", 1))
    result = warehouse.write_batch(make_batch(people(8)))
    assert result.published and not result.resumed and result.chunks_skipped == 0
    with warehouse.engine.connect() as conn:
        statuses = [row.status for row in conn.execute(
            select(crm_load_batch).order_by(crm_load_batch.c.batch_id))]  # fmt: skip
        assert conn.execute(select(func.count()).select_from(crm_checkpoint)).scalar_one() > 0
    assert statuses == ["abandoned", "published"]
