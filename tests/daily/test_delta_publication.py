"""A daily batch published by its rows' marks (crm_pipeline.daily.delta) leaves the CRM
tables exactly as publishing it whole does, night after night: the whole publication (every
row of the touched customers, the unsent ones deleted) is the oracle."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import load.customer_scope
import load.delta_basis
import load.publish
from crm_pipeline.daily.delta import mark
from load.bulk import Stager
from tests.daily.conftest import World, make_world

TABLES = {
    "crm_customer": "crm_cust_id, province, cust_type, name, id_type, id_no, id_valid,"
    " master_source, master_cust_no, source_count, score, formula_id, qualified, batch_id,"
    " first_batch_id",
    "crm_customer_source": "province, source, source_cust_no, crm_cust_id, role, batch_id",
    "crm_contact": "province, source, source_cust_no, crm_cust_id, phone, mobile, address,"
    " postcode, batch_id",
    "crm_account": "province, source, acct_no, crm_cust_id, source_cust_no, kind, currency,"
    " balance, balance_cny, status, in_scope, open_date, maturity_date, batch_id",
}


def _run_nights(world: World, url: str, staging: Path) -> None:
    world.url, world.staging = url, staging
    for index in range(0, world.days + 1):
        summaries = world.run(index, "initial" if index == 0 else "daily")
        assert [s.status for s in summaries] == ["published", "published"], summaries


def _tables(world: World, url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: world.query(f"SELECT {columns} FROM {name} ORDER BY {columns}", url)
        for name, columns in TABLES.items()
    }


def _by_batch_key(world: World, url: str) -> dict[str, list[tuple[Any, ...]]]:
    """`_tables` with each batch number as its (date, province, mode): the numbers of two
    warehouses differ where one abandoned batches."""
    keys = {
        b: (d, p, m)
        for b, d, p, m in world.query(
            "SELECT batch_id, business_date, province, mode FROM crm_load_batch", url
        )
    }
    out = {}
    for name, columns in TABLES.items():
        names = [c.strip() for c in columns.split(",")]
        out[name] = sorted(
            tuple(keys[v] if n.endswith("batch_id") else v for n, v in zip(names, row, strict=True))
            for row in world.query(f"SELECT {columns} FROM {name}", url)
        )
    return out


def _urls(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two empty warehouses of the test's backend: (marked, whole)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'marked.db'}", f"sqlite:///{tmp_path / 'whole.db'}"
    server = request.getfixturevalue("pg_server")
    return server.url(server.create_database()), server.url(server.create_database())


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_marked_publication_equals_the_whole_one(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    marked_url, whole_url = _urls(backend, request, tmp_path)
    world = make_world(tmp_path, date(2026, 11, 24), 5, ["ZJ", "NB", "GD"], 150, 11)
    staged: Counter[tuple[str, str]] = Counter()  # (table, delta) of every staged row
    unchanged: set[tuple[int, int]] = set()  # (batch, customer) of a staged `same` row
    unnumbered: Counter[str] = Counter()  # removals of customers outside the CRM
    by_delta: list[bool] = []
    steered: list[bool] = []  # publications by look-ups (PostgreSQL, load.publish)
    put, publish_rows = Stager.put, load.publish.publish_rows
    by_look_ups = load.publish._by_look_ups

    def counting_put(self: Stager, part: int, data: pa.Table) -> None:
        if "delta" in data.column_names:
            staged.update((self.target.name, d) for d in data.column("delta").to_pylist())
            same = data.filter(pc.equal(data.column("delta"), "same"))
            unchanged.update((self.batch_id, n) for n in same.column("crm_cust_id").to_pylist())
            unnumbered[self.target.name] += (
                data.num_rows - pc.count(data.column("crm_cust_id")).as_py()
            )
        put(self, part, data)

    def recording(*args: Any, **kw: Any) -> None:
        by_delta.append(bool(kw.get("by_delta")))
        publish_rows(*args, **kw)

    def counting_look_ups(conn: Any) -> None:
        steered.append(True)
        by_look_ups(conn)

    with monkeypatch.context() as patch:
        patch.setattr(Stager, "put", counting_put)
        patch.setattr(load.publish, "publish_rows", recording)
        patch.setattr(load.publish, "_by_look_ups", counting_look_ups)
        _run_nights(world, marked_url, tmp_path / "staging_marked")
    # Every daily night of both provinces went by the marks, for the three tables, and on
    # PostgreSQL by look-ups.
    assert by_delta.count(True) == 5 * 2 * 3
    assert len(steered) == (5 * 2 if backend == "postgres" else 0)
    # Staged by their changes: the changed rows and removed keys, and the unchanged rows of
    # the customers each batch made CRM customers only.
    for table in ("stg_customer_source", "stg_contact", "stg_account"):
        assert staged[(table, "changed")] > 0, staged
    assert staged[("stg_account", "removed")] > 0, staged
    assert unchanged, "no customer entered the CRM with unchanged rows"
    entered_in = dict(
        world.query("SELECT crm_cust_id, first_batch_id FROM crm_customer", marked_url)
    )
    assert {(entered_in[n], n) for _, n in unchanged} == unchanged
    # Rows moved to customers outside the CRM were staged as removals without a number.
    assert min(unnumbered.values()) > 0, unnumbered

    with monkeypatch.context() as patch:
        patch.setattr(load.delta_basis, "marks_rows", lambda batch: False)
        _run_nights(world, whole_url, tmp_path / "staging_whole")

    marked, whole = _tables(world, marked_url), _tables(world, whole_url)
    for name in TABLES:
        assert marked[name] == whole[name], name
    # The batches' published counts too: staged by their changes, a batch still counts
    # every account it holds.
    counts = (
        "SELECT business_date, province, mode, status, customers, qualified, accounts, rejects"
        " FROM crm_load_batch ORDER BY batch_id"
    )
    assert world.query(counts, marked_url) == world.query(counts, whole_url)
    assert len(marked["crm_account"]) > 100
    # Customers entered the CRM after the first night: their unchanged rows came with them.
    entered = world.query(
        "SELECT count(*) FROM crm_customer c JOIN crm_account a ON a.crm_cust_id = c.crm_cust_id"
        " WHERE c.first_batch_id > 2",
        marked_url,
    )[0][0]
    assert entered > 0


def test_a_batch_staged_by_its_changes_whose_basis_goes_is_written_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged by its changes while its basis was the CRM's newest publication, and found at
    publication not to be any more (here: the staging's answer forced, the publication's
    left as it is false): the rows it did not stage are not lost, it is abandoned and
    written again whole, and the CRM ends as a whole publication leaves it."""
    world = make_world(tmp_path, date(2026, 11, 24), 2, ["ZJ", "NB", "GD"], 150, 11)
    raced, whole = f"sqlite:///{tmp_path / 'raced.db'}", f"sqlite:///{tmp_path / 'whole.db'}"
    with monkeypatch.context() as patch:
        patch.setattr(load.delta_basis, "marks_rows", lambda batch: False)
        _run_nights(world, whole, tmp_path / "staging_whole")
        patch.setattr(load.customer_scope, "by_delta", lambda conn, batch: True)
        _run_nights(world, raced, tmp_path / "staging_raced")
    assert _by_batch_key(world, raced) == _by_batch_key(world, whole)
    scopes = world.query(
        "SELECT b.status, c.position FROM crm_load_batch b JOIN crm_checkpoint c"
        " ON c.batch_id = b.batch_id AND c.stream = 'row_scope' WHERE b.mode = 'daily'"
        " ORDER BY b.batch_id",
        raced,
    )
    # Each daily night of both provinces: abandoned staged by changes, published whole.
    assert scopes == [("abandoned", "changes"), ("published", "all")] * 2 * 2, scopes


def test_marks_of_rows_against_the_previous_date() -> None:
    old = pa.table(
        {
            "source": ["RTL", "RTL", "RTL", "CRD", "CRD"],
            "acct_no": ["1", "2", "3", "4", "5"],
            "cust_key": ["A", "A", "A", "B", "B"],
            "balance": [1, 2, None, 4, 5],
        }
    )
    new = pa.table(
        {
            "source": ["RTL", "RTL", "RTL", "CRD", "LON"],
            "acct_no": ["1", "2", "3", "4", "5"],
            "cust_key": ["A", "A", "A", "C", "B"],
            "balance": [1, 3, None, 4, 5],
        }
    )
    marked = mark(new, old, ["source", "acct_no"], ["cust_key", "balance"])
    assert marked.select(["source", "acct_no", "delta"]).to_pylist() == [
        {"source": "RTL", "acct_no": "1", "delta": "same"},
        {"source": "RTL", "acct_no": "2", "delta": "changed"},
        {"source": "RTL", "acct_no": "3", "delta": "same"},  # null equals null
        {"source": "CRD", "acct_no": "4", "delta": "moved"},
        {"source": "LON", "acct_no": "5", "delta": "changed"},  # a new key
        {"source": "CRD", "acct_no": "5", "delta": "removed"},
    ]
    assert marked.column("cust_key").to_pylist()[-1] == "B"  # removed under its old customer


def test_only_a_batch_of_the_changes_size_is_published_by_look_ups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def batch(rows: int) -> Any:
        table = pa.table({"x": list(range(rows))})
        return SimpleNamespace(links=table, source_customers=table, accounts=table)

    assert load.publish.looks_up(batch(1000))
    monkeypatch.setattr(load.publish, "LOOKUP_ROWS", 2999)
    assert load.publish.looks_up(batch(999))
    assert not load.publish.looks_up(batch(1000))  # 3,000 rows: hash joins kept
