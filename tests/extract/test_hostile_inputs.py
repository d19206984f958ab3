"""Inputs as a hostile night brings them (issue 16 item 8): a byte order mark, NUL bytes,
converted line ends, a link to /etc/passwd, a province without its own folder. Each is
read by its rule (docs/decisions.md) and records read = kept + set aside + filtered still
holds; the last part runs whole loads into SQLite."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from common.errors import FileRejected
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from extract.lines import raw_lines
from tests.end_to_end.edge_dumps import delimited_line, valid_id_card
from tests.extract.test_records import CFG, acct, cust, fixed_line, write
from tests.ingesting import ingest_landed

D = "20261124"

FND_CUST = [
    "F0001|P|张三|01|11010519491231002X|13800000000|杭州市|330100001",
    "F0002|P|李四|01|110105194912310037|13800000001|宁波市|330200001",
]


def _ingest(path: Path, layout_name: str, flag: Any, tmp_path: Path, **kw: Any) -> Any:
    layout = CFG.layouts[layout_name]
    result = ingest_landed(path, layout, CFG, flag, tmp_path / "out.parquet", "ZJ", **kw)
    assert result.read == result.kept + result.set_aside
    return result


# --- byte order mark ---------------------------------------------------------------------


def test_a_byte_order_mark_at_the_start_of_a_utf8_file_is_dropped(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + ("\n".join(FND_CUST) + "\n").encode()
    path, flag = write(tmp_path, f"FND_CUST_ZJ_{D}.dat", data, 2, "0.00")
    result = _ingest(path, "FND_CUST", flag, tmp_path)
    assert (result.read, result.kept) == (2, 2)
    assert pq.read_table(result.staged).column("cust_no").to_pylist() == ["F0001", "F0002"]
    assert raw_lines(path, {1}, CFG.layouts["FND_CUST"]) == {1: FND_CUST[0]}


def test_a_utf8_byte_order_mark_in_a_gb18030_file_is_a_file_fault(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + fixed_line(cust("C1", "张三"), "RTL_CUST")
    path, flag = write(tmp_path, f"RTL_CUST_ZJ_{D}.dat", data, 1, "0.00")
    with pytest.raises(FileRejected, match="UTF-8 byte order mark, the layout says GB18030"):
        _ingest(path, "RTL_CUST", flag, tmp_path)


# --- NUL bytes ---------------------------------------------------------------------------


def test_a_nul_byte_sets_its_fixed_width_record_aside_naming_the_field(tmp_path: Path) -> None:
    lines = [fixed_line(acct(f"A{i}", f"{i}.00"), "RTL_ACCT") for i in range(1, 5)]
    lines[1] = lines[1][:5] + b"\x00" + lines[1][6:]  # inside acct_no (the key)
    lines[2] = lines[2][:-4] + b"\x00" + lines[2][-3:]  # in branch_code, balance intact
    # The control sum counts both: their balances are well formed (spec section 8).
    path, flag = write(tmp_path, f"RTL_ACCT_ZJ_{D}.dat", b"".join(lines), 4, "10.00")
    result = _ingest(path, "RTL_ACCT", flag, tmp_path)
    assert pq.read_table(result.staged).column("acct_no").to_pylist() == ["A1", "A4"]
    rejects = {r["line"]: r for r in result.rejects.to_pylist()}
    assert {n: (r["reason"], r["field"]) for n, r in rejects.items()} == {
        2: ("nul byte: acct_no", "acct_no"),
        3: ("nul byte: branch_code", "branch_code"),
    }
    assert all("\x00" not in r["raw"] and "\\x00" in r["raw"] for r in rejects.values())


def test_a_nul_byte_sets_its_delimited_record_aside_naming_the_field(tmp_path: Path) -> None:
    rows = [*FND_CUST, "F0003|P|王\x00五|01|110105194912310045|138|温州|330300001"]
    rows.append("F00\x0004|P|short")  # a wrong field count keeps its structural reason
    data = ("\n".join(rows) + "\n").encode()
    path, flag = write(tmp_path, f"FND_CUST_ZJ_{D}.dat", data, 4, "0.00")
    result = _ingest(path, "FND_CUST", flag, tmp_path, chunk_bytes=100)
    assert pq.read_table(result.staged).column("cust_no").to_pylist() == ["F0001", "F0002"]
    rejects = {r["line"]: r for r in result.rejects.to_pylist()}
    assert (rejects[3]["reason"], rejects[3]["field"]) == ("nul byte: name", "name")
    assert rejects[4]["reason"] == "3 fields, expected 8"
    assert [rejects[n]["raw"] for n in (3, 4)] == [
        rows[2].replace("\x00", "\\x00"),
        rows[3].replace("\x00", "\\x00"),
    ]


# --- line ends ---------------------------------------------------------------------------


def test_lf_line_ends_in_a_crlf_file_are_one_file_fault(tmp_path: Path) -> None:
    lines = [fixed_line(acct(f"A{i}", "1.00"), "RTL_ACCT")[:-2] + b"\n" for i in range(300)]
    path, flag = write(tmp_path, f"RTL_ACCT_ZJ_{D}.dat", b"".join(lines), 300, "300.00")
    with pytest.raises(FileRejected) as caught:
        _ingest(path, "RTL_ACCT", flag, tmp_path)
    assert caught.value.file == path.name
    assert caught.value.reason.startswith("line ends are LF, the layout says CRLF (300 of")


def test_crlf_line_ends_in_an_lf_file_are_one_file_fault(tmp_path: Path) -> None:
    data = ("\r\n".join(FND_CUST) + "\r\n").encode()
    path, flag = write(tmp_path, f"FND_CUST_ZJ_{D}.dat", data, 2, "0.00")
    with pytest.raises(FileRejected, match="line ends are CRLF, the layout says LF"):
        _ingest(path, "FND_CUST", flag, tmp_path)


def test_one_stray_line_end_is_a_record_fault(tmp_path: Path) -> None:
    rows = [*FND_CUST, "F0003|P|王五|01|110105194912310045|138|温州|330300001"]
    data = f"{rows[0]}\n{rows[1]}\r\n{rows[2]}\n".encode()
    path, flag = write(tmp_path, f"FND_CUST_ZJ_{D}.dat", data, 3, "0.00")
    result = _ingest(path, "FND_CUST", flag, tmp_path)
    assert result.rejects.select(["line", "reason", "raw"]).to_pylist() == [
        {"line": 2, "reason": "line end is not LF", "raw": rows[1]}
    ]  # today the CR stayed in the last field, branch_code '330200001\r'
    table = pq.read_table(result.staged)
    assert table.column("branch_code").to_pylist() == ["330100001", "330300001"]


def test_a_delimited_crlf_layout_drops_its_crs_and_sets_lf_lines_aside(tmp_path: Path) -> None:
    """A delimited layout saying CRLF (none does today: RTL_TXN is LF in layouts.yaml) is
    read as a fixed-width CRLF one is: no CR in the last field, an LF line set aside."""
    layout = CFG.layouts["RTL_TXN"].model_copy(update={"line_end": "crlf"})
    rows = [f"T{i}|A1|20261124|101500|D|{i}.00|CNY|ATM|100.00|取现" for i in range(1, 5)]
    data = "\r\n".join(rows[:2]).encode("gb18030") + b"\r\n"
    data += rows[2].encode("gb18030") + b"\n" + rows[3].encode("gb18030") + b"\r\n"
    path, flag = write(tmp_path, f"RTL_TXN_ZJ_{D}.dat", data, 4, "7.00")  # not line 3
    result = ingest_landed(path, layout, CFG, flag, tmp_path / "t.parquet", "ZJ")
    assert result.read == result.kept + result.set_aside == 4
    table = pq.read_table(result.staged)
    assert table.column("memo").to_pylist() == ["取现"] * 3  # no CR left in the last field
    assert result.rejects.select(["line", "reason", "raw"]).to_pylist() == [
        {"line": 3, "reason": "line end is not CRLF", "raw": rows[2]}
    ]


# --- whole loads into SQLite -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("hostile")
    write_sample(landing, date(2026, 11, 24), ["ZJ", "NB"], 30, 5)
    return landing


def _copy(sample: Path, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(sample, landing, symlinks=True)
    return landing


def _reflag(path: Path, records: int | None = None) -> None:
    """Rewrite the flag's byte count for the file's new bytes (and its record count when
    given; the control sum is unchanged)."""
    ok = path.with_suffix(".ok")
    name, _, count, control = ok.read_text().rstrip("\n").split("|")
    count = str(records) if records is not None else count
    ok.write_text(f"{name}|{path.stat().st_size}|{count}|{control}\n")


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


def _run(landing: Path, tmp_path: Path) -> tuple[Any, str]:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    [summary] = run_date(D, "initial", landing, ["ZJ"], url, tmp_path / "staging")
    return summary, url


def test_a_province_without_its_own_folder_is_not_published_from_its_city(
    sample: Path, tmp_path: Path
) -> None:
    landing = _copy(sample, tmp_path)
    shutil.rmtree(landing / D / "ZJ")
    summary, url = _run(landing, tmp_path)
    assert summary.status == "failed"
    assert f"branch ZJ of ZJ sent nothing: no folder {landing / D / 'ZJ'}" in summary.error
    assert _query(url, "SELECT count(*) FROM crm_customer") == [(0,)]


def test_a_link_to_etc_passwd_never_reaches_the_warehouse(sample: Path, tmp_path: Path) -> None:
    landing = _copy(sample, tmp_path)
    path = landing / D / "NB" / f"CRD_CUST_NB_{D}.dat"
    path.unlink()
    path.symlink_to("/etc/passwd")
    # A flag that agrees with what the link points at (a customer file has no control sum).
    _reflag(path, records=Path("/etc/passwd").read_bytes().count(b"\n"))
    summary, url = _run(landing, tmp_path)
    assert summary.status == "failed"
    assert f"{path.name}: the data file is a symbolic link (to /etc/passwd)" in summary.error
    assert _query(url, "SELECT count(*) FROM crm_reject WHERE raw LIKE '%root:%'") == [(0,)]
    assert _query(url, "SELECT count(*) FROM crm_customer") == [(0,)]


def test_converted_line_ends_fail_the_province_with_one_reason(
    sample: Path, tmp_path: Path
) -> None:
    landing = _copy(sample, tmp_path)
    path = landing / D / "NB" / f"RTL_CUST_NB_{D}.dat"
    path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    _reflag(path)
    summary, url = _run(landing, tmp_path)
    assert summary.status == "failed"
    assert f"{path.name}: line ends are LF, the layout says CRLF" in summary.error
    assert _query(url, "SELECT count(*) FROM crm_reject") == [(0,)]


def test_bom_and_nul_bytes_are_read_by_their_rules_and_every_record_counted(
    sample: Path, tmp_path: Path
) -> None:
    clean, clean_url = _run(sample, tmp_path / "clean")
    assert clean.status == "published"
    landing = _copy(sample, tmp_path)
    fnd = landing / D / "ZJ" / f"FND_CUST_ZJ_{D}.dat"
    fnd.write_bytes(b"\xef\xbb\xbf" + fnd.read_bytes())
    _reflag(fnd)
    rtl = landing / D / "ZJ" / f"RTL_ACCT_ZJ_{D}.dat"
    aside_before = _query(clean_url, f"SELECT line FROM crm_reject WHERE file = '{rtl.name}'")
    line = min(set(range(1, 100)) - {r[0] for r in aside_before})  # a line kept or filtered
    lines = rtl.read_bytes().split(b"\r\n")
    lines[line - 1] = lines[line - 1][:-3] + b"\x00" + lines[line - 1][-2:]  # in branch_code:
    rtl.write_bytes(b"\r\n".join(lines))  # its balance still counts in the control sum
    summary, url = _run(landing, tmp_path)
    assert summary.status == "published", summary.error
    counts = {
        r[0]: r[1:]
        for r in _query(url, "SELECT file, read, kept, set_aside, filtered FROM crm_file_count")
    }
    assert counts and all(read == k + s + f for read, k, s, f in counts.values())
    before = {f.file: (f.read, f.kept, f.set_aside, f.filtered) for f in clean.files}
    assert counts[fnd.name] == before[fnd.name]  # the mark is not a record, nor in one
    read, kept, aside, filtered = before[rtl.name]
    assert counts[rtl.name][0] == read and counts[rtl.name][2] == aside + 1
    assert counts[rtl.name][1] + counts[rtl.name][3] == kept + filtered - 1
    [(reason, field, raw)] = _query(
        url,
        f"SELECT reason, field, raw FROM crm_reject WHERE file = '{rtl.name}' AND line = {line}",
    )
    assert (reason, field) == ("nul byte: branch_code", "branch_code") and "\\x00" in raw
    assert _query(url, "SELECT count(*) FROM crm_reject WHERE instr(raw, char(0)) > 0") == [(0,)]
    assert clean.total("read") == summary.total("read")


def _crd_customer(cust_no: str, name: str, body17: str, postcode: str) -> bytes:
    fields = [cust_no, "P", name, "I", valid_id_card(body17), "F", "19750505",
              "13900000000", "宁波", postcode, "NB0001"]  # fmt: skip
    return delimited_line("CRD_CUST", fields)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])]
)
def test_an_over_long_postcode_and_a_nul_are_set_aside_on_either_database(
    sample: Path, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """A delimited file's text has no width: a 40-character postcode once failed the whole
    province on PostgreSQL (`value too long for type character varying(10)`) and passed on
    SQLite. It is set aside by the layout's max_length on both; a NUL in a name likewise
    (PostgreSQL refuses NUL in text). Every record is still counted. (The sample's province
    has no CRM customer: on PostgreSQL its first registration of no key once failed with
    `setval: value 0 is out of bounds`.)"""
    landing = _copy(sample, tmp_path)
    path = landing / D / "NB" / f"CRD_CUST_NB_{D}.dat"
    records = path.read_bytes().count(b"\n")
    long_at, nul_at = records + 1, records + 2
    with path.open("ab") as handle:
        handle.write(_crd_customer("CNB9999990001", "长邮编", "33020219750505001", "3" * 40))
        handle.write(_crd_customer("CNB9999990002", "空\x00字", "33020219750505002", "315000"))
    _reflag(path, records=records + 2)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    [summary] = run_date(D, "initial", landing, ["ZJ"], url, tmp_path / "staging")
    assert summary.status == "published", summary.error
    rows = _query(
        url,
        f"SELECT line, reason, field FROM crm_reject WHERE file = '{path.name}' "
        f"AND line IN ({long_at}, {nul_at}) ORDER BY line",
    )
    assert rows == [
        (long_at, f"longer than 10 characters: postcode='{'3' * 40}'", "postcode"),
        (nul_at, "nul byte: name", "name"),
    ]
    counts = _query(url, "SELECT read, kept, set_aside, filtered FROM crm_file_count")
    assert counts and all(read == k + s + f for read, k, s, f in counts)
    assert _query(url, "SELECT count(*) FROM crm_contact WHERE length(postcode) > 10") == [(0,)]
