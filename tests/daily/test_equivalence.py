"""Initial at D0 + daily D1..D5 == an initial load of the full dumps taken at D5."""

from __future__ import annotations

from crm_pipeline.run import run_date
from tests.daily.conftest import World

QUALIFIED = (
    "SELECT province, cust_type, id_type, id_no, score, name, master_source, master_cust_no,"
    " source_count FROM crm_customer WHERE qualified ORDER BY 1, 2, 3, 4"
)


def test_daily_runs_equal_an_initial_load_of_the_last_day(world: World) -> None:
    assert world.full is not None
    url = f"sqlite:///{world.root / 'full.db'}"
    summaries = run_date(
        world.day(5), "initial", world.full, warehouse_url=url, staging=world.root / "full_stg"
    )
    assert [s.status for s in summaries] == ["published", "published"]
    daily = world.query(QUALIFIED)
    initial = world.query(QUALIFIED, url)
    assert len(daily) > 50
    assert daily == initial


def test_customers_entered_and_left_the_qualified_set(world: World) -> None:
    rows = world.query(
        "SELECT c.qualified, b.business_date FROM crm_customer c"
        " JOIN crm_load_batch b ON b.batch_id = c.first_batch_id"
    )
    entered = [r for r in rows if r[1] != world.d0.isoformat()]
    left = [r for r in rows if not r[0]]
    assert entered, "no customer entered the qualified set after D0"
    assert left, "no customer left the qualified set"
    # those who left are still there, with qualified false (never deleted)
    assert world.query("SELECT count(*) FROM crm_customer WHERE NOT qualified")[0][0] == len(left)


def test_a_rate_move_rescored_its_holders(world: World) -> None:
    """Day 3 moves one currency: every CRM account in it was rewritten by D3's batch."""
    manifest, before = world.manifest(3), world.manifest(2)
    moved = [c for c, r in manifest["fx_rates"].items() if before["fx_rates"][c] != r]
    assert len(moved) == 1
    rows = world.query(
        "SELECT a.batch_id >= b.batch_id FROM crm_account a JOIN crm_load_batch b"
        f" ON b.business_date = '{world.day(3)[:4]}-{world.day(3)[4:6]}-{world.day(3)[6:]}'"
        f" AND b.province = a.province AND b.mode = 'daily'"
        f" WHERE a.currency = '{moved[0]}' AND a.status <> 'C' AND a.balance <> '0.00'"
    )
    assert rows and all(r[0] for r in rows)
