"""The layouts' expectations on the staged kept records, and the comparisons with the
previous published date: a normal second night that passes them, a file whose records
drop, a daily night whose total score jumps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import text

from common import config as cfg
from crm_pipeline.quality.config import quality
from crm_pipeline.quality.gate import GateInputs, gate_step
from crm_pipeline.run import run_context
from crm_pipeline.sample import write_sample
from extract.lines import raw_lines
from load.quality import Night as GateNight
from load.quality import accept
from load.warehouse import Warehouse
from tests.daily.conftest import World, make_world
from tests.quality.conftest import (
    CUSTOMERS,
    DAY,
    SEED,
    D,
    Night,
    compare_small_types,
    failed,
    reflag,
)
from transform.conform import StagedFile


def _staged(night: Night, name: str, day: str = D) -> Path:
    return night.staging / day / "ZJ" / "initial" / "parsed" / f"{name}.parquet"


def _spoiled_accounts(path: Path, out: Path) -> tuple[str, str]:
    """A copy of a staged account file broken once per layout declaration: its first key
    twice, a currency outside the code set, a null customer number, the balance staged
    as text. (the repeated key, the first row's customer number)"""
    table = pq.read_table(path)
    first = table.slice(0, 1)
    currency = table.column("currency").to_pylist()
    currency[1] = "XXX"
    cust_no = table.column("cust_no").to_pylist()
    cust_no[2] = None
    table = (
        table.set_column(table.schema.get_field_index("currency"), "currency", pa.array(currency))
        .set_column(table.schema.get_field_index("cust_no"), "cust_no", pa.array(cust_no))
        .set_column(
            table.schema.get_field_index("balance"),
            "balance",
            pc.cast(table.column("balance"), pa.string()),
        )
    )
    first = first.cast(table.schema)
    pq.write_table(pa.concat_tables([table, first]), out)
    return str(first.column("acct_no")[0].as_py()), str(cust_no[0])


def test_staged_records_breaking_their_layout_hold_the_night(
    night: Night, own_config: Path
) -> None:
    """A night publishes (its staged records satisfy every declaration), then the gate is
    run again on a staged account file broken behind the parser's back: each layout
    check names the file, the field and an example; layout_unique set to `warning` in
    config/quality.yaml reports as a warning."""
    assert night.run().status == "published"
    [first] = night.results()
    assert not [f for f in first.failures if f.check.startswith("layout_")]
    path = own_config / "quality.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["checks"]["layout_unique"] = {"severity": "warning"}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    quality.cache_clear()
    name = "RTL_ACCT_ZJ_20261124"
    spoiled = night.staging / "spoiled.parquet"
    key, _ = _spoiled_accounts(_staged(night, name), spoiled)
    layout = cfg.layouts().layout_for("RTL", "ACCT")
    landed = night.landing / D / "ZJ" / f"{name}.dat"
    staged = StagedFile(landed, spoiled, layout, "RTL", "ACCT", "ZJ", raw_lines)
    ctx = run_context(D, "initial", night.landing, night.url, night.staging)
    warehouse = Warehouse(night.url)
    try:
        _, counts, info = gate_step(
            ctx,
            warehouse,
            GateNight(DAY, "ZJ", "initial", "spoiled"),
            lambda: GateInputs([], [], [], None, [staged]),
        )
    finally:
        warehouse.dispose()
    assert info["verdict"] == "held"
    got = {(f["check"], f["subject"]): (f["severity"], f["observed"]) for f in info["failures"]}
    file = f"{name}.dat"
    assert got == {
        ("layout_types", f"{file} *"): (
            "critical",
            "1 (e.g. balance staged as string, declared amount)",
        ),
        ("layout_codes", f"{file} currency"): ("critical", "1 (e.g. XXX)"),
        ("layout_required", f"{file} cust_no"): ("critical", "1"),
        ("layout_unique", f"{file} acct_no"): ("warning", f"1 (e.g. {key})"),
    }
    assert counts == {"critical": 3, "warnings": 1}


def _drop_lines(path: Path, keep: Decimal) -> int:
    """Keep the first `keep` share of a data file's lines (re-flagged); how many are left."""
    lines = path.read_bytes().splitlines(keepends=True)
    left = int(len(lines) * keep)
    path.write_bytes(b"".join(lines[:left]))
    reflag(path)
    return left


def _qualified(url: str) -> dict[str, tuple[int, Decimal]]:
    """(qualified customers, sum of their scores) per type as published, summed here."""
    warehouse = Warehouse(url)
    try:
        with warehouse.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT cust_type, score FROM crm_customer WHERE province = 'ZJ' AND qualified"
                )
            ).all()
    finally:
        warehouse.dispose()
    out: dict[str, tuple[int, Decimal]] = {}
    for kind, score in rows:
        n, total = out.get(kind, (0, Decimal(0)))
        out[kind] = (n + 1, total + Decimal(str(score)))
    return out


def _result_json(night: Night, day: str) -> dict[str, object]:
    path = night.staging / day / "ZJ" / "initial" / "quality" / "result.json"
    info: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return info


def test_a_normal_second_night_passes_and_a_file_that_drops_is_listed(
    night: Night, own_config: Path
) -> None:
    """Night 1 publishes with its first-night note; night 2 (the same bank a day later)
    is compared with it and passes; night 3, whose FND_HOLD file lost 60 % of its
    records, publishes with a records_change warning of the exact drop."""
    compare_small_types(own_config)
    one = night.run()
    assert one.status == "published" and any("first night" in n for n in one.notes)
    published_one = _qualified(night.url)
    d2, d3 = DAY + timedelta(days=1), DAY + timedelta(days=2)
    for day in (d2, d3):
        write_sample(night.landing, day, ["ZJ", "NB"], CUSTOMERS, SEED)
    two = night.run(day=d2.strftime("%Y%m%d"))
    assert two.status == "published", two.error
    assert not [n for n in two.notes if n.startswith("quality note")], two.notes
    [result] = night.results(d2)
    assert not [f for f in result.failures if f.check.endswith("_change")]
    info = _result_json(night, d2.strftime("%Y%m%d"))
    assert info["previous"] == DAY.isoformat()
    changes = info["changes"]
    assert isinstance(changes, dict)
    before = {f.file.replace(D, "D"): f.read for f in one.files}
    for f in two.files:
        expected = abs(Decimal(f.read) / before[f.file.replace(d2.strftime("%Y%m%d"), "D")] - 1)
        assert Decimal(changes["records_change"][f.file]) == expected
    published_two = _qualified(night.url)
    for kind, (n, score) in published_two.items():
        n1, score1 = published_one[kind]
        assert Decimal(changes["qualified_change"][kind]) == abs(Decimal(n) / n1 - 1)
        assert Decimal(changes["score_change"][kind]) == pytest.approx(
            abs(score / score1 - 1), rel=Decimal("1e-20")
        )

    day3 = d3.strftime("%Y%m%d")
    hold = night.landing / day3 / "ZJ" / f"FND_HOLD_ZJ_{day3}.dat"
    was = next(f.read for f in two.files if f.file.startswith("FND_HOLD_ZJ"))
    left = _drop_lines(hold, Decimal("0.4"))
    three = night.run(day=day3)
    assert three.status == "published", three.error
    [result] = night.results(d3)
    warned = failed(result, "warning")
    assert Decimal(warned[("records_change", hold.name)]) == pytest.approx(
        abs(Decimal(left) / was - 1), rel=Decimal("1e-5")
    )
    assert not [
        f for f in result.failures if f.check == "records_change" and f.subject != hold.name
    ]
    assert any(f"records_change {hold.name}" in n for n in three.notes)


def test_a_daily_total_score_jump_holds_the_daily_night(tmp_path: Path, own_config: Path) -> None:
    """The small daily world moves its qualified customers' total score by more than 30 %
    in a day: held on score_change; accepted and published, the totals the gate computed
    before the load (published totals with the day's customers replaced) are those of the
    warehouse after it."""
    compare_small_types(own_config)
    _daily_jump(make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 120, 7))


@pytest.mark.postgres
@pytest.mark.xdist_group("postgres")
def test_the_daily_totals_on_postgres(pg_server: Any, tmp_path: Path, own_config: Path) -> None:
    """The same on PostgreSQL, whose totals are NUMERIC sums in SQL (SQLite's are added up
    in Python)."""
    compare_small_types(own_config)
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 120, 7)
    _daily_jump(replace(world, url=pg_server.url(pg_server.create_database())))


def _daily_jump(world: World) -> None:
    [initial] = world.run(0, "initial")
    assert initial.status == "published", initial.error
    before = _qualified(world.url)
    [held] = world.run(1)
    assert held.status == "held"
    warehouse = Warehouse(world.url)
    try:
        accept(warehouse.engine, date(2026, 11, 25), "ZJ", "tester", "a real jump")
    finally:
        warehouse.dispose()
    [published] = world.run(1)
    assert published.status == "published", published.error
    after = _qualified(world.url)
    path = world.staging / world.day(1) / "ZJ" / "daily" / "quality" / "result.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    critical = {(f["check"], f["subject"]): f["observed"] for f in info["failures"]}
    jumped = 0
    for kind, (n, score) in after.items():
        n0, score0 = before[kind]
        assert Decimal(info["changes"]["qualified_change"][kind]) == abs(Decimal(n) / n0 - 1)
        change = abs(score / score0 - 1)
        assert Decimal(info["changes"]["score_change"][kind]) == pytest.approx(
            change, rel=Decimal("1e-20")
        )
        if change > Decimal("0.3"):
            jumped += 1
            assert Decimal(critical[("score_change", kind)]) == pytest.approx(
                change, rel=Decimal("1e-5")
            )
    assert jumped
