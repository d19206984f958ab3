"""The hand-made dump files of tests/cases read through the extract readers and the one flag
check, as the pipeline reads a landed file (what each file holds: tests/cases/README.md)."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from common.config import layouts
from common.errors import FileRejected
from extract.flag import check_against_flag, read_checker, read_flag
from extract.landing import check_landed
from extract.lines import raw_lines
from extract.records import iter_raw_chunks
from extract.verify import verify_against_flag

CASES = Path(__file__).resolve().parent.parent / "cases"
CFG = layouts()


def _read(name: str) -> tuple[list[dict[str, str]], list[tuple[int, str, str]], int, Decimal]:
    """A case file's sound rows (fields as sent, padding trimmed), its structural rejects,
    its records read and its control sum, over every chunk."""
    layout = CFG.layout_for(*name.split("_")[:2])
    rows: list[dict[str, str]] = []
    rejects: list[tuple[int, str, str]] = []
    read, control = 0, Decimal("0.00")
    for chunk in iter_raw_chunks(CASES / name, layout):
        columns = {k: [v.strip() for v in c.to_pylist()] for k, c in chunk.columns.items()}
        rows += [
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]
        rejects += [(r.line, r.raw, r.reason) for r in chunk.rejects]
        read += chunk.read
        control += chunk.control_sum(layout)
    return rows, rejects, read, control


def test_fixed_width_gb18030_customers_with_chinese_names() -> None:
    name = "RTL_CUST_ZJ_20261124.dat"
    landed = check_landed(CASES / name, "ZJ")  # present, flag names it, size agrees
    assert (landed.system, landed.entity, landed.flag.records) == ("RTL", "CUST", 3)
    rows, rejects, read, control = _read(name)
    assert [r["name"] for r in rows] == ["张三", "欧阳小明", "王𠀀明"]  # 𠀀: 4 bytes in GB18030
    assert [r["cust_no"] for r in rows] == ["RC0001", "RC0002", "RC0003"]
    assert rows[1]["address"] == "浙江省宁波市海曙区中山西路88号"
    assert (rejects, read, control) == ([], 3, Decimal("0.00"))
    verify_against_flag(CASES / name, landed.flag)
    assert raw_lines(CASES / name, {2}, CFG.layouts["RTL_CUST"])[2].startswith(
        "RC0002          P欧阳小明"
    )


def test_delimited_utf8_holdings_and_their_control_sum() -> None:
    name = "FND_HOLD_ZJ_20261124.dat"
    landed = check_landed(CASES / name, "ZJ")
    rows, rejects, read, control = _read(name)
    assert [r["fund_acct"] for r in rows] == ["H0001", "H0002", "H0003"]
    assert [r["market_value"] for r in rows] == ["1234.50", "400.00", "10.50"]
    assert (rejects, read) == ([], 3)
    assert control == landed.flag.control_sum == Decimal("1645.00")
    verify_against_flag(CASES / name, landed.flag)
    read_checker(name, landed.flag)(read, control)  # what ingestion calls: agrees


def test_a_bad_line_is_set_aside_and_still_counts_as_read() -> None:
    name = "FND_CUST_ZJ_20261124.dat"
    landed = check_landed(CASES / name, "ZJ")
    rows, rejects, read, _ = _read(name)
    assert [r["cust_no"] for r in rows] == ["F0001", "F0002", "F0004"]
    assert rows[1]["name"] == "杭州示例科技有限公司"
    assert rejects == [(3, "F0003|P|赵六|01", "4 fields, expected 8")]
    assert read == landed.flag.records == 4  # the flag counts lines: the bad one too
    verify_against_flag(CASES / name, landed.flag)


def test_a_flag_that_disagrees_rejects_the_file() -> None:
    name = "RTL_ACCT_ZJ_20261124.dat"
    landed = check_landed(CASES / name, "ZJ")  # the size agrees: only reading tells
    _, rejects, read, control = _read(name)
    assert (rejects, read, control) == ([], 3, Decimal("101479.50"))
    message = "control sum 101479.50, flag says 101479.05"
    with pytest.raises(FileRejected, match=message):
        verify_against_flag(CASES / name, landed.flag)
    with pytest.raises(FileRejected, match=message):
        read_checker(name, landed.flag)(read, control)


def test_a_truncated_copy_is_refused_before_it_is_read(tmp_path: Path) -> None:
    name = "FND_HOLD_ZJ_20261124.dat"
    data = (CASES / name).read_bytes()
    (tmp_path / name).write_bytes(data[:-10])
    shutil.copy(CASES / name.replace(".dat", ".ok"), tmp_path)
    with pytest.raises(FileRejected, match=f"{len(data) - 10} bytes, flag says {len(data)}"):
        check_landed(tmp_path / name, "ZJ")
    with pytest.raises(FileRejected, match="truncated or corrupt"):
        verify_against_flag(tmp_path / name, read_flag(tmp_path / name.replace(".dat", ".ok")))


def test_the_flag_check_looks_at_what_it_is_given_in_order() -> None:
    flag = read_flag(CASES / "FND_HOLD_ZJ_20261124.ok")
    check_against_flag("x", flag)  # nothing observed: nothing to disagree with
    with pytest.raises(FileRejected, match="flag names another file: FND_HOLD"):
        check_against_flag("x", flag, name="x.dat", size=0)
    with pytest.raises(FileRejected, match="^x: 0 bytes"):
        check_against_flag("x", flag, size=0, records=0)
    with pytest.raises(FileRejected, match="^x: 0 records, flag says 3"):
        check_against_flag("x", flag, size=flag.size, records=0, control_sum=Decimal(0))
