"""`crm-pipeline export` against a real warehouse (SQLite and PostgreSQL): the files hold
the warehouse's published rows, byte for byte again on a re-export, with flags that add
up; unpublished, held and superseded batches are refused with one line.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from crm_pipeline.cli import main
from crm_pipeline.export import ExportRefused, LaterBatchPublished, export_batch
from crm_pipeline.export.layout import ACCOUNT, ALL, BATCH, TABLES
from extract.flag import read_flag
from load import Warehouse
from load.tables import crm_customer, crm_load_batch, metadata
from tests.export.oracle import as_utc, parse_file, warehouse_rows
from tests.load.factory import DAY1, DAY2, Cust, make_batch, people


def customers() -> list[Cust]:
    found = people(7)
    found[0].name = "浙江某某贸易有限公司 (总部)"  # multi-byte UTF-8, spaces, brackets
    found[4].balance = "123456789012.34"  # a qualified one: its accounts are published
    found[2].sources = ["LON:L9", "RTL:R0000000002", "FND:F1"]
    return found


def kinds(layout: Any) -> list[str]:
    return [kind for _name, kind in layout.columns]


def test_files_hold_the_published_rows_with_flags_that_add_up(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.write_batch(make_batch(customers()))
    result = export_batch(DAY1, "ZJ", tmp_path, warehouse_url=warehouse.url)
    folder = tmp_path / "20261124" / "ZJ"
    assert result.folder == folder
    assert [f.path.name for f in result.files] == [
        "CRM_CUST_ZJ_20261124.dat", "CRM_CUSTSRC_ZJ_20261124.dat",
        "CRM_CONTACT_ZJ_20261124.dat", "CRM_ACCT_ZJ_20261124.dat", "CRM_BATCH_ZJ_20261124.dat",
    ]  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        name for f in result.files for name in (f.path.name, f.flag_path.name)
    )  # no temporary file left
    for layout, file in zip(TABLES, result.files, strict=False):
        expected = warehouse_rows(warehouse.engine, layout.table, layout.names,
                                  list(layout.order), "ZJ")  # fmt: skip
        assert expected, layout.table
        assert parse_file(file.path, kinds(layout)) == expected, layout.table
        data = file.path.read_bytes()
        flag = read_flag(file.flag_path)
        assert flag == file.flag
        assert (flag.data_file, flag.size, flag.records) == (file.path.name, len(data),
                                                             data.count(b"\n"))  # fmt: skip
        if layout.control:
            column = layout.names.index(layout.control)
            assert flag.control_sum == sum((r[column] for r in expected), Decimal(0))
        else:
            assert flag.control_sum == Decimal("0.00")
    accounts = parse_file(result.files[3].path, kinds(ACCOUNT))
    assert Decimal("123456789012.34") in {r[ACCOUNT.names.index("balance")] for r in accounts}
    assert "浙江某某贸易有限公司 (总部)" in result.files[0].path.read_text(encoding="utf-8")

    [batch_line] = parse_file(result.files[4].path, kinds(BATCH))
    with warehouse.engine.connect() as conn:
        row = conn.execute(select(crm_load_batch)).one()
    assert batch_line[:5] == (row.batch_id, DAY1, "ZJ", "initial", "published")
    assert batch_line[5] == as_utc(row.published_at)
    assert batch_line[6:] == (row.customers, row.qualified, row.accounts, row.rejects)
    assert read_flag(result.files[4].flag_path).records == 1


def test_a_re_export_gives_identical_bytes(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.write_batch(make_batch(customers()))
    first = export_batch(DAY1, "ZJ", tmp_path / "a", warehouse_url=warehouse.url)
    again = export_batch(DAY1, "ZJ", tmp_path / "b", warehouse_url=warehouse.url, mode="initial")
    in_place = export_batch(DAY1, "ZJ", tmp_path / "a", warehouse_url=warehouse.url)
    for one, two, three in zip(first.files, again.files, in_place.files, strict=True):
        assert one.path.read_bytes() == two.path.read_bytes() == three.path.read_bytes()
        assert one.flag_path.read_bytes() == two.flag_path.read_bytes()
        assert one.sha256 == two.sha256
    assert len(list((tmp_path / "a" / "20261124" / "ZJ").iterdir())) == 2 * len(ALL)


def test_every_column_of_the_crm_tables_is_exported() -> None:
    for layout in ALL:
        table = metadata.tables[layout.table]
        names = set(layout.names)
        if layout is BATCH:  # the batch's own bookkeeping stays in the warehouse
            assert set(table.c.keys()) - names == {"created_at", "run_id", "fingerprint",
                                                   "inputs"}  # fmt: skip
        else:
            assert names == set(table.c.keys()), layout.table
        key = list(table.primary_key.columns.keys())
        assert set(layout.order) >= set(key) - {"province"}, layout.table  # a total order


def test_unpublished_held_and_missing_batches_are_refused(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    with pytest.raises(ExportRefused, match="ZJ 20261124: no batch in the warehouse"):
        export_batch(DAY1, "ZJ", tmp_path, warehouse_url=warehouse.url)

    def stop() -> None:
        raise RuntimeError("stopped before publication")

    with pytest.raises(RuntimeError):
        warehouse.write_batch(make_batch(people(4)), before_publish=stop)
    with pytest.raises(ExportRefused, match=r"ZJ 20261124 initial: batch \d+ is staging, not"):
        export_batch(DAY1, "ZJ", tmp_path, warehouse_url=warehouse.url)

    warehouse.write_batch(make_batch(people(4), province="GD"))
    with warehouse.engine.begin() as conn:  # what the quality gate does to a batch it holds
        conn.execute(update(crm_load_batch).where(crm_load_batch.c.province == "GD")
                     .values(status="held", published_at=None))  # fmt: skip
    with pytest.raises(ExportRefused, match=r"GD 20261124 initial: batch \d+ is held, not pub"):
        export_batch(DAY1, "GD", tmp_path, warehouse_url=warehouse.url)
    with pytest.raises(ExportRefused, match="GD 20261124 daily: no batch"):
        export_batch(DAY1, "GD", tmp_path, mode="daily", warehouse_url=warehouse.url)
    assert not (tmp_path / "20261124").exists()  # nothing written


def test_a_batch_a_later_one_superseded_is_refused_and_the_later_one_exported(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.write_batch(make_batch(people(4)))
    changed = people(5)
    changed[0].score, changed[0].qualified = "1.00", False  # stays, not qualified
    warehouse.write_batch(make_batch(changed, business_date=DAY2, mode="daily"))
    with pytest.raises(LaterBatchPublished, match=r"published batch \d+ \(20261125 daily\)"):
        export_batch(DAY1, "ZJ", tmp_path, warehouse_url=warehouse.url)
    result = export_batch(DAY2, "ZJ", tmp_path, warehouse_url=warehouse.url)
    assert result.batch.mode == "daily"
    rows = parse_file(result.files[0].path, kinds(TABLES[0]))
    with warehouse.engine.connect() as conn:
        db = conn.execute(select(crm_customer.c.crm_cust_id, crm_customer.c.qualified,
                                 crm_customer.c.batch_id)).all()  # fmt: skip
    names = TABLES[0].names
    got = {(r[0], r[names.index("qualified")], r[names.index("batch_id")]) for r in rows}
    assert got == {tuple(r) for r in db}
    assert len({r[2] for r in db}) == 2  # rows of both batches: the province's full image


def test_a_value_the_format_cannot_carry_is_refused_naming_the_row(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    found = people(3)
    found[2].name = "ACME | Ltd"  # qualified: published
    warehouse.write_batch(make_batch(found))
    with pytest.raises(ExportRefused, match=r"crm_customer row crm_cust_id=\d+: name holds a '\|'"):
        export_batch(DAY1, "ZJ", tmp_path, warehouse_url=warehouse.url)
    assert list((tmp_path / "20261124" / "ZJ").iterdir()) == []  # no file, no leftover


def test_the_command_line(
    warehouse: Warehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", "--date", "20261124", "--province", "ZJ", "--to", str(tmp_path),
            "--warehouse", warehouse.url]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err == "crm-pipeline: ZJ 20261124: no batch in the warehouse: nothing exported\n"
    assert main([*args[:4], "XX", *args[5:]]) == 1
    assert "'XX' is not in config/provinces.yaml" in capsys.readouterr().err

    warehouse.write_batch(make_batch(people(4)))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "export 20261124 ZJ initial: batch" in out
    flag = read_flag(tmp_path / "20261124" / "ZJ" / "CRM_ACCT_ZJ_20261124.ok")
    words = " ".join(out.split())
    assert f"CRM_ACCT_ZJ_20261124.dat {flag.records} {flag.size} {flag.control_sum}" in words
