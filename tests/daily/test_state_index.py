"""The state's key indexes give the answers the probes give (issue 21): same rows, same
touched records, over a full snapshot and over a date read from layers, and still exact
when every key shares one hash."""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import crm_pipeline.state_index
from common.staging import StagingArea
from crm_pipeline.daily.touched import touched_records
from crm_pipeline.state import STATE_KEYS, LiveState, live_table, read_layers, read_live_state
from crm_pipeline.state_index import write_indexes
from tests.daily.conftest import World
from transform.changes import ACTION, apply_changes, rows_with_keys
from transform.key_index import KeyIndex

KEY = STATE_KEYS["customers"]


def _every(table: pa.Table, step: int, start: int = 0) -> pa.Table:
    return table.take(pa.array(np.arange(start, table.num_rows, step)))


def _changes(customers: LiveState) -> pa.Table:
    """Updates (one with another customer's number), deletes, an unknown delete and adds."""
    live = customers.table if customers.live is None else customers.table.filter(customers.live)
    updated = _every(live, 7)
    donor = _every(live, 7, 3).column("id_no").slice(0, updated.num_rows)
    updated = updated.set_column(updated.schema.get_field_index("id_no"), "id_no", donor)
    deleted = _every(live, 11, 5)
    added = _every(live, 13, 2)
    added = added.set_column(
        added.schema.get_field_index("cust_no"), "cust_no",
        pc.binary_join_element_wise(added.column("cust_no"), "NEW", ""),
    )  # fmt: skip
    unknown = added.slice(0, 1).set_column(1, "cust_no", pa.array(["NO-SUCH"]))
    parts = [(updated, "U"), (deleted, "D"), (added, "A"), (unknown, "D")]
    schema = live.schema.append(pa.field(ACTION, pa.string()))
    return pa.concat_tables(
        [
            t.append_column(ACTION, pa.array([a] * t.num_rows, pa.string())).cast(schema)
            for t, a in parts
        ]
    )


def _dates(world: World) -> list[date]:
    return [world.d0 + timedelta(days=i) for i in (0, 3)]


def test_a_full_snapshot_has_every_index_and_a_layered_date_reads_it(world: World) -> None:
    area = StagingArea(world.staging)
    assert (area.state_dir("ZJ", world.day(3)) / "layer.json").exists()
    for day in _dates(world):
        state = read_live_state(area, "ZJ", day)
        assert set(state["customers"].indexes) == {"key", "number"}
        assert set(state["accounts"].indexes) == {"key", "owner"}


def test_the_indexes_answer_as_the_probes(world: World) -> None:
    area = StagingArea(world.staging)
    for day in _dates(world):
        state = read_live_state(area, "ZJ", day)
        customers, accounts = state["customers"], state["accounts"]
        changes = _changes(customers)
        applied = {
            name: apply_changes(customers.table, changes, KEY, True, customers.live, index)
            for name, index in (("index", customers.indexes["key"]), ("probe", None))
        }
        by_index, by_probe = applied["index"], applied["probe"]
        assert by_index.kept.equals(by_probe.kept)
        assert by_index.replaced.equals(by_probe.replaced)
        assert by_index.ignored.num_rows == by_probe.ignored.num_rows == 1
        assert by_index.replaced.num_rows > 10

        owners = _every(accounts.table.select(KEY), 17)
        rows = rows_with_keys(accounts.table, KEY, owners, accounts.indexes["owner"])
        assert rows.equals(rows_with_keys(accounts.table, KEY, owners))
        assert pc.sum(rows.cast(pa.int64())).as_py() >= owners.num_rows // 2

        touched = touched_records(by_index, owners, customers.indexes)
        probed = touched_records(by_probe, owners, None)
        assert touched.old.equals(probed.old)
        assert touched.new.equals(probed.new)
        assert touched.old.num_rows > by_index.replaced.num_rows


def test_the_live_rows_of_a_layered_date_by_index_and_by_probe(world: World) -> None:
    area = StagingArea(world.staging)
    day = world.day(3)
    for name in STATE_KEYS:
        full, layers = read_layers(area, "ZJ", day, name)
        assert full is not None and layers
        state = read_live_state(area, "ZJ", _dates(world)[1])[name]
        table, live = live_table(full, layers, STATE_KEYS[name], None)
        assert live is not None and state.live is not None
        assert state.live.equals(live)
        assert table.num_rows == state.table.num_rows > full.num_rows  # layers' rows past it
        assert pc.sum(pc.invert(live).cast(pa.int64())).as_py() > 0


def test_every_key_sharing_one_hash_still_finds_exactly_its_rows(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "transform.changes.key_hashes", lambda t, _: np.zeros(t.num_rows, np.uint64)
    )
    accounts = read_live_state(StagingArea(world.staging), "ZJ", world.d0)["accounts"]
    table = accounts.table
    n = table.num_rows
    colliding = KeyIndex(np.zeros(n, np.uint64), np.arange(n, dtype=np.uint32), n)
    wanted = _every(table.select(STATE_KEYS["accounts"]), 5)
    mask = rows_with_keys(table, STATE_KEYS["accounts"], wanted, colliding)
    assert mask.equals(rows_with_keys(table, STATE_KEYS["accounts"], wanted))
    assert pc.sum(mask.cast(pa.int64())).as_py() == wanted.num_rows


def test_a_damaged_or_stray_index_is_set_aside_and_the_table_probed(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = StagingArea(world.staging).state_dir("ZJ", world.day(0))
    area = StagingArea(tmp_path)
    folder = area.state_dir("ZJ", world.day(0))
    shutil.copytree(source, folder)
    good = read_live_state(StagingArea(world.staging), "ZJ", world.d0)  # (mapped: not edited)
    # truncated; another index's file in its place; an index of a table since rewritten
    key = folder / "customers.key.index.arrow"
    key.write_bytes(key.read_bytes()[:100])
    shutil.copy(folder / "accounts.key.index.arrow", folder / "accounts.owner.index.arrow")
    number = folder / "customers.number.index.arrow"
    good_number = number.read_bytes()
    with caplog.at_level(logging.WARNING, logger="crm_pipeline.state_index"):
        damaged = read_live_state(area, "ZJ", world.d0)
    assert set(damaged["customers"].indexes) == {"number"}
    assert set(damaged["accounts"].indexes) == {"key"}
    assert "unreadable" in caplog.text and "not the owner index" in caplog.text
    accounts = damaged["accounts"].table
    owners = _every(accounts.select(KEY), 17)
    assert rows_with_keys(accounts, KEY, owners).equals(
        rows_with_keys(accounts, KEY, owners, good["accounts"].indexes["owner"])
    )
    # the table rewritten since (same rows, other batches): not the one indexed any more
    table_path = folder / "customers.arrow"
    rows = pa.ipc.open_file(pa.OSFile(str(table_path))).read_all()
    table_path.unlink()
    with pa.OSFile(str(table_path), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
        out.write_table(rows, max_chunksize=7)
    number.write_bytes(good_number)
    assert "number" not in read_live_state(area, "ZJ", world.d0)["customers"].indexes


def test_a_table_too_large_for_32_bit_rows_is_not_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.arrow"
    table = pa.table({"source": ["RTL"] * 3, "acct_no": ["a", "b", "c"], "cust_no": ["x"] * 3})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as out:
        out.write_table(table)
    assert len(write_indexes(path, "accounts")) == 2
    monkeypatch.setattr(crm_pipeline.state_index, "MAX_ROWS", 2)
    assert write_indexes(path, "accounts") == []  # rows would wrap: no index, probed
