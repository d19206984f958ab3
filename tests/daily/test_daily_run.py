"""The daily run on generated days: reconciliation, same-day customers, restart, order."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from common.staging import BATCH_TABLES, StagingArea
from crm_pipeline.daily.run import _batch_paths
from crm_pipeline.state import read_state_accounts
from tests.daily.conftest import World, make_world


def _counts(world: World, index: int) -> dict[str, tuple[int, int, int, int]]:
    day = world.day(index)
    rows = world.query(
        "SELECT f.file, f.read, f.kept, f.set_aside, f.filtered FROM crm_file_count f"
        " JOIN crm_load_batch b ON b.batch_id = f.batch_id"
        f" WHERE b.status = 'published' AND b.mode = 'daily'"
        f" AND b.business_date = '{day[:4]}-{day[4:6]}-{day[6:]}'"
    )
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def test_every_file_reconciles_as_the_generator_says(world: World) -> None:
    """read = kept + set aside + filtered, for every change and TXN file of every day,
    with the generator's own count of applied, ignored and set-aside lines (each action
    of each system is in every day's files)."""
    for index in range(1, world.days + 1):
        counts = _counts(world, index)
        for item in world.manifest(index)["files"]:
            name = Path(item["file"]).name
            read, kept, set_aside, filtered = counts[name]
            assert read == kept + set_aside + filtered == item["records"], name
            assert set_aside == item["set_aside"], name
            if name.split("_")[1] != "TXN":
                assert (kept, filtered) == (item["applied"], item["ignored"]), name


def test_accounts_of_a_customer_arriving_the_same_day_are_kept(world: World) -> None:
    index = 2
    new = world.manifest(index)["new_customers"]
    assert new
    state = read_state_accounts(StagingArea(world.staging), "ZJ", world.d0 + timedelta(days=index))
    assert state is not None
    accounts = state.to_pylist()
    owners = {(a["source"], a["cust_no"]) for a in accounts}
    zj = [(system, cust_no) for branch, system, cust_no in new if branch in ("ZJ", "NB")]
    assert zj and all(owner in owners for owner in zj)
    rejects = world.query("SELECT raw FROM crm_reject WHERE reason LIKE 'orphan%'")
    assert not [r for r in rejects if any(c in r[0] for _, c in zj)]


def test_transactions_of_crm_accounts_only(world: World) -> None:
    rows = world.query(
        "SELECT count(*) FROM crm_txn t LEFT JOIN crm_account a ON a.province = t.province"
        " AND a.source = t.source AND a.acct_no = t.acct_no WHERE a.acct_no IS NULL"
    )
    assert rows[0][0] == 0
    assert world.query("SELECT count(*) FROM crm_txn")[0][0] > 0
    loads = world.query("SELECT count(*) FROM crm_txn_load")[0][0]
    assert loads == 2 * world.days  # both provinces, every day


def test_rerun_changes_nothing_and_force_republishes(world: World) -> None:
    sql = "SELECT crm_cust_id, score, qualified, batch_id FROM crm_customer ORDER BY 1"
    before = world.query(sql)
    assert [s.status for s in world.run(5)] == ["already published"] * 2
    summaries = world.run(5, force=True)
    assert [s.status for s in summaries] == ["published"] * 2
    after = world.query(sql)
    assert [r[:3] for r in after] == [r[:3] for r in before]


def test_a_missing_or_unpublished_earlier_day_stops_the_run(tmp_path: Path) -> None:
    w = make_world(tmp_path, date(2026, 12, 1), 2, ["ZJ"], 40, 5)
    assert w.run(0, "initial")[0].status == "published"
    skipped = w.run(2)[0]
    assert skipped.status == "failed"
    assert skipped.error is not None and "20261202 is not published" in skipped.error
    assert "run 20261202 first" in skipped.error
    # a day whose run failed (a corrupt file) is not published: the next one stops too
    rtl = w.landing / w.day(1) / "ZJ" / f"RTL_CUSTCHG_ZJ_{w.day(1)}.dat"
    good = rtl.read_bytes()
    rtl.write_bytes(good[:-10])  # truncated: disagrees with its flag
    assert w.run(1)[0].status == "failed"
    assert "20261202 is not published" in (w.run(2)[0].error or "")
    rtl.write_bytes(good)
    assert w.run(1)[0].status == "published"
    assert w.run(2)[0].status == "published"
    # no earlier day at all
    fresh = make_world(tmp_path / "fresh", date(2026, 12, 1), 1, ["ZJ"], 20, 5)
    error = fresh.run(1)[0].error or ""
    assert "no published business date before 20261202" in error


def test_the_batch_tables_are_the_ones_the_apply_step_recorded(tmp_path: Path) -> None:
    """A night resumed after its apply step reads the tables that step wrote: the Arrow
    files its manifest names, or the Parquet files of a manifest of older code, which
    names none (written before the batch tables were Arrow files)."""
    recorded = {name: str(tmp_path / f"mine_{name}.arrow") for name in BATCH_TABLES}
    assert _batch_paths({"batch_tables": recorded}, tmp_path) == {
        name: Path(path) for name, path in recorded.items()
    }
    assert _batch_paths({}, tmp_path) == {
        name: tmp_path / f"batch_{name}.parquet" for name in BATCH_TABLES
    }
