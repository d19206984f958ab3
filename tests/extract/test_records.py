"""Reading dump bytes into records: bytes vs characters, CRLF, GB18030 multi-byte, structure
rejects, chunk boundaries (read through `extract.records` and staged by ingestion)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from common.config import layouts
from extract.flag import Flag
from tests.ingesting import ingest_landed

CFG = layouts()


def fixed_line(values: dict[str, str], layout_name: str) -> bytes:
    """Build one fixed-width record by bytes, independently of the parser."""
    layout = CFG.layouts[layout_name]
    out = b""
    for spec in layout.fields:
        raw = values.get(spec.name, "").encode("gb18030")
        width = spec.width or 0
        assert len(raw) <= width, spec.name
        out += raw.rjust(width) if spec.type in ("amount", "int") else raw.ljust(width)
    return out + b"\r\n"


def acct(acct_no: str, balance: str, **extra: str) -> dict[str, str]:
    base = {
        "acct_no": acct_no,
        "cust_no": "C1",
        "product": "D",
        "currency": "CNY",
        "balance": balance,
        "term_months": "0",
        "open_date": "20200101",
        "maturity_date": "00000000",
        "status": "N",
        "branch_code": "330100001",
    }
    return {**base, **extra}


def cust(cust_no: str, name: str) -> dict[str, str]:
    return {
        "cust_no": cust_no,
        "cust_type": "P",
        "name": name,
        "id_type": "01",
        "id_no": "11010519491231002X",
        "gender": "M",
        "birth_date": "19491231",
        "mobile": "13800000000",
        "phone": "",
        "address": "浙江省杭州市",
        "postcode": "310000",
        "open_date": "20100101",
        "branch_code": "330100001",
    }


def write(tmp_path: Path, name: str, data: bytes, records: int, control: str) -> tuple[Path, Flag]:
    path = tmp_path / name
    path.write_bytes(data)
    return path, Flag(name, len(data), records, Decimal(control))


def test_fixed_width_by_bytes_with_multibyte_names(tmp_path: Path) -> None:
    four_byte = "𠀀"  # U+20000: 4 bytes in GB18030
    assert len(four_byte.encode("gb18030")) == 4
    full = "张" * 30  # exactly 60 bytes: fills the field
    data = fixed_line(cust("C1", "王" + four_byte + "明"), "RTL_CUST") + fixed_line(
        cust("C2", full), "RTL_CUST"
    )
    path, flag = write(tmp_path, "RTL_CUST_ZJ_20261124.dat", data, 2, "0.00")
    result = ingest_landed(path, CFG.layouts["RTL_CUST"], CFG, flag, tmp_path / "out.parquet", "ZJ")
    table = pq.read_table(result.staged)
    assert table.column("name").to_pylist() == ["王" + four_byte + "明", full]
    assert table.column("address").to_pylist() == ["浙江省杭州市"] * 2
    assert (result.read, result.kept, result.set_aside) == (2, 2, 0)


def test_character_split_by_field_boundary_is_set_aside(tmp_path: Path) -> None:
    good = fixed_line(cust("C1", "张三"), "RTL_CUST")
    # Name field: 59 ASCII bytes then the first byte of a 2-byte character; the second
    # byte spills into id_type. Same total length: only the decode can tell.
    bad = bytearray(fixed_line(cust("C2", "x" * 59), "RTL_CUST"))
    name_end = 16 + 1 + 60
    bad[name_end - 1] = 0xD5
    data = good + bytes(bad)
    path, flag = write(tmp_path, "RTL_CUST_ZJ_20261124.dat", data, 2, "0.00")
    result = ingest_landed(path, CFG.layouts["RTL_CUST"], CFG, flag, tmp_path / "out.parquet", "ZJ")
    assert (result.read, result.kept, result.set_aside) == (2, 1, 1)
    reject = result.rejects.to_pylist()[0]
    assert reject["line"] == 2 and reject["reason"] == "undecodable bytes"
    assert "\\xd5" in reject["raw"]


def test_crlf_and_byte_length_rejects(tmp_path: Path) -> None:
    lines = [
        fixed_line(acct("A1", "100.00"), "RTL_ACCT"),
        fixed_line(acct("A2", "50.10"), "RTL_ACCT")[:-2] + b"\n",  # LF only
        fixed_line(acct("A3", "7.00"), "RTL_ACCT")[:-3] + b"\r\n",  # one byte short
        fixed_line(acct("A4", "abc"), "RTL_ACCT"),  # not an amount
        fixed_line(acct("A5", "1.00", open_date="20261332"), "RTL_ACCT"),
    ]
    # Control sum: every line whose balance is well formed, even if set aside for
    # something else (A2 LF-only line still has a readable balance? No: too malformed).
    path, flag = write(tmp_path, "RTL_ACCT_ZJ_20261124.dat", b"".join(lines), 5, "101.00")
    result = ingest_landed(path, CFG.layouts["RTL_ACCT"], CFG, flag, tmp_path / "a.parquet", "ZJ")
    reasons = {r["line"]: r["reason"] for r in result.rejects.to_pylist()}
    assert reasons[2] == "line end is not CRLF"
    assert reasons[3] == "byte length 88, expected 89"
    assert reasons[4].startswith("not an amount: balance=")
    assert reasons[5].startswith("impossible date: open_date=")
    assert result.read == result.kept + result.set_aside == 5
    assert pq.read_table(result.staged).column("acct_no").to_pylist() == ["A1"]


def test_delimited_gb18030_with_pipe_trail_byte(tmp_path: Path) -> None:
    name = "亅小明"  # 亅 is 0x81 0x7C in GB18030: its trail byte is '|'
    assert name.encode("gb18030")[1:2] == b"|"
    good = f"K1|P|{name}|I|11010519491231002X|M|19491231|138|杭州|310000|330100001\n"
    bad = "K2|P|李四|I\n"
    path, flag = write(
        tmp_path, "CRD_CUST_ZJ_20261124.dat", (good + bad).encode("gb18030"), 2, "0.00"
    )
    result = ingest_landed(path, CFG.layouts["CRD_CUST"], CFG, flag, tmp_path / "c.parquet", "ZJ")
    table = pq.read_table(result.staged)
    assert table.column("name").to_pylist() == [name]
    assert table.column("id_type").to_pylist() == ["01"]  # CRD letter I mapped
    assert result.rejects.column("reason").to_pylist() == ["4 fields, expected 11"]


def test_chunk_boundaries_do_not_change_the_result(tmp_path: Path) -> None:
    lines = [fixed_line(acct(f"A{i}", f"{i}.00"), "RTL_ACCT") for i in range(50)]
    total = sum(range(50))
    path, flag = write(tmp_path, "RTL_ACCT_ZJ_20261124.dat", b"".join(lines), 50, f"{total}.00")
    small = ingest_landed(
        path, CFG.layouts["RTL_ACCT"], CFG, flag, tmp_path / "s.parquet", "ZJ", chunk_bytes=500
    )
    whole = ingest_landed(path, CFG.layouts["RTL_ACCT"], CFG, flag, tmp_path / "w.parquet", "ZJ")
    assert pq.read_table(small.staged).equals(pq.read_table(whole.staged))
    assert pq.read_table(small.staged).column("line").to_pylist() == list(range(1, 51))
