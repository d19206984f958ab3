"""State snapshots as layers (issue 21): what a date wrote over the previous date's state.

The layered state must read exactly as the whole state the days would have written: checked
on a hand-made chain (pure), on a written one, and on the five-day world against an initial
load of the full dumps taken at D5 (an independent computation of the same state).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from common.staging import StagingArea
from crm_pipeline.state import (
    STATE_KEYS,
    StateLayer,
    layer_stats,
    overlay,
    read_state,
    write_layer,
    write_state,
)
from tests.daily.conftest import World

KEY = ["source", "cust_no"]


def _rows(names: list[str], tag: str) -> pa.Table:
    return pa.table({"source": ["RTL"] * len(names), "cust_no": names, "v": [tag] * len(names)})


def _removed(names: list[str]) -> pa.Table:
    return pa.table({"source": ["RTL"] * len(names), "cust_no": names})


def _pairs(table: pa.Table) -> list[tuple[str, str]]:
    return list(
        zip(table.column("cust_no").to_pylist(), table.column("v").to_pylist(), strict=True)
    )


def test_overlay_keeps_the_newest_version_of_each_key_in_apply_order() -> None:
    full = _rows(["a", "b", "c", "e"], "0")
    day1 = StateLayer(_rows(["b", "d"], "1"), _removed(["c"]))
    day2 = StateLayer(_rows(["d"], "2"), _removed(["a"]))
    assert _pairs(overlay(full, [day1, day2], KEY)) == [("e", "0"), ("b", "1"), ("d", "2")]
    # a key removed and sent again later is back, in the later layer's place
    day3 = StateLayer(_rows(["c"], "3"), _removed([]))
    assert _pairs(overlay(full, [day1, day2, day3], KEY)) == [
        ("e", "0"), ("b", "1"), ("d", "2"), ("c", "3"),
    ]  # fmt: skip


def test_written_layers_read_back_and_count(tmp_path: Path) -> None:
    area = StagingArea(tmp_path)
    customers = _rows(["a", "b"], "0")
    accounts = pa.table({"source": ["RTL"], "acct_no": ["x"], "v": ["0"]})
    write_state(area, "ZJ", "20261124", customers, accounts)
    no_account_change = StateLayer(accounts.slice(0, 0), accounts.select(STATE_KEYS["accounts"])
                                   .slice(0, 0))  # fmt: skip
    write_layer(
        area, "ZJ", "20261125", date(2026, 11, 24),
        {"customers": StateLayer(_rows(["c"], "1"), _removed(["a"])),
         "accounts": no_account_change},
        pa.table({"currency": ["CNY"], "cny_per_100": [100]}),
    )  # fmt: skip
    stats = layer_stats(area, "ZJ", date(2026, 11, 25))
    assert (stats.layers, stats.layer_rows, stats.full_rows) == (1, 2, 3)
    assert not stats.takes(1)  # 3 layer rows over 3 full rows is more than a quarter
    table = area.state_dir("ZJ", "20261125") / "customers.written.arrow"
    assert table.exists() and not (area.state_dir("ZJ", "20261125") / "customers.arrow").exists()


def _comparable(table: pa.Table, key: list[str]) -> list[tuple[object, ...]]:
    """Rows without where they were read (file, line, branch differ between the two)."""
    names = [n for n in table.column_names if n not in ("file", "line", "branch")]
    return sorted(tuple(r.values()) for r in table.select(names).sort_by(
        [(k, "ascending") for k in key]).to_pylist())  # fmt: skip


def _open(accounts: pa.Table) -> pa.Table:
    return accounts.filter(pc.not_equal(accounts.column("status"), "C"))


def test_the_layered_state_of_d5_is_the_state_of_an_initial_load_at_d5(world: World) -> None:
    area = StagingArea(world.staging)
    d5 = world.d0.replace(day=world.d0.day + 5)
    layered = [p for i in range(1, 6) for p in [area.state_dir("ZJ", world.day(i))]
               if (p / "layer.json").exists()]  # fmt: skip
    assert layered, "no daily date was written as a layer"
    full_area = StagingArea(world.root / "full_stg")
    if not full_area.state_dir("ZJ", world.day(5)).is_dir():
        from crm_pipeline.run import run_date

        url = f"sqlite:///{world.root / 'full_layers.db'}"
        run_date(world.day(5), "initial", world.full, warehouse_url=url,
                 staging=world.root / "full_stg")  # fmt: skip
    for province in ("ZJ", "GD"):
        daily_c, daily_a = read_state(area, province, d5)
        full_c, full_a = read_state(full_area, province, d5)
        assert daily_c.num_rows > 50
        assert _comparable(daily_c, KEY) == _comparable(full_c, KEY)
        # a closed account stays in the state as closed; the full dumps leave it out
        assert _comparable(_open(daily_a), STATE_KEYS["accounts"]) == _comparable(
            _open(full_a), STATE_KEYS["accounts"]
        )
        assert pc.sum(pc.cast(daily_a.column("in_scope"), pa.int64())).as_py() > 0
