"""The whole initial load, end to end, on generated sample dumps, against tests/oracle.py.

The sample generator's manifest says what it injected; the oracle re-reads the same files
one record at a time, from the spec alone; the pipeline runs for real (`run_date`) into a
SQLite file and into a PostgreSQL database. The three must tell the same story: per-file
counts, the set-aside lines, the qualified customers with their master record and score to
the fen, their accounts and source records, and stable CRM customer numbers.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.cli import main
from crm_pipeline.context import ProvinceSummary
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from tests import oracle
from tests.oracle import ProvinceResult

DAY = date(2026, 11, 24)
D = "20261124"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]
PROVINCES = ["ZJ", "GD"]
CUSTOMERS = 300
SEED = 23

Key = tuple[str, str, str, str]  # province, cust_type, id_type, id_no


@dataclass(frozen=True)
class Sample:
    landing: Path
    manifest: dict[str, Any]

    def entries(self, province: str) -> list[dict[str, Any]]:
        return [e for e in self.manifest["files"] if e["province"] == province]

    def entry(self, name: str) -> dict[str, Any]:
        return next(e for e in self.manifest["files"] if Path(e["file"]).name == name)


@dataclass(frozen=True)
class Loaded:
    """A warehouse the sample was loaded into, and what `run_date` returned."""

    url: str
    staging: Path
    summaries: list[ProvinceSummary]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    landing = tmp_path_factory.mktemp("landing")
    manifest = write_sample(landing, DAY, BRANCHES, CUSTOMERS, SEED)
    return Sample(landing, json.loads(manifest.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def expected(sample: Sample) -> dict[str, ProvinceResult]:
    return {p: oracle.run_province(sample.landing, D, p) for p in PROVINCES}


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.xdist_group("postgres")]),
    ],
)
def loaded(
    request: pytest.FixtureRequest, sample: Sample, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    work = tmp_path_factory.mktemp(f"run-{request.param}")
    database = None
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'warehouse.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        database = server.create_database()
        url = server.url(database)
    try:
        summaries = run_date(D, "initial", sample.landing, None, url, work / "staging")
        yield Loaded(url, work / "staging", summaries)
    finally:
        if database is not None:
            server.drop_database(database)


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def money(value: Any) -> Decimal:
    """An amount read back from either backend (SQLite stores decimal text)."""
    return Decimal(str(value))


def published_batch(url: str, province: str) -> int:
    rows = query(
        url,
        "SELECT batch_id FROM crm_load_batch WHERE province = :p AND status = 'published'",
        p=province,
    )
    assert len(rows) == 1, (province, rows)
    return int(rows[0][0])


def crm_ids(url: str) -> dict[Key, int]:
    rows = query(url, "SELECT province, cust_type, id_type, id_no, crm_cust_id FROM crm_customer")
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


def qualified_keys(expected: dict[str, ProvinceResult]) -> set[Key]:
    return {(p, *m.key) for p, r in expected.items() for m in r.qualified()}


# --- the oracle against the generator's manifest (no pipeline involved) -----------------


def test_oracle_reads_what_the_generator_wrote(
    sample: Sample, expected: dict[str, ProvinceResult]
) -> None:
    """Each line's fate: the manifest's set-aside reasons, flagged ids and filtered accounts."""
    for province, result in expected.items():
        assert not result.failed_files
        names = {f.name for f in result.files}
        assert names == {Path(e["file"]).name for e in sample.entries(province)}
        for f in result.files:
            entry = sample.entry(f.name)
            assert sorted((i["line"], i["reason"]) for i in entry["set_aside_lines"]) == sorted(
                (line.number, line.set_aside) for line in f.lines if line.set_aside
            ), f.name
            assert [i["line"] for i in entry["filtered_accounts"]] == [
                line.number for line in f.lines if line.filtered
            ], f.name
            assert f.flagged == entry["flagged"], f.name
        # The sample exercises merging: records of several systems and branches per
        # customer, and organization codes resolved to their credit code.
        assert sum(len(m.members) > 1 for m in result.merged) > 100
        assert any(
            m.id_type == "23" and any(c.id_type == "21" for c in m.members) for m in result.merged
        )
        city = {"ZJ": "NB", "GD": "SZ"}[province]
        assert any({c.branch for c in m.members} == {province, city} for m in result.merged)
        share = len(result.qualified()) / len(result.merged)
        assert 0.10 <= share <= 0.40, (province, share)


def test_oracle_score_rounding_and_threshold() -> None:
    """The oracle's own arithmetic on hand-computed values (half away from zero, >=)."""
    from fractions import Fraction

    assert oracle.round_fen(Fraction(12345, 1000)) == Decimal("12.35")
    assert oracle.round_fen(Fraction(-12345, 1000)) == Decimal("-12.35")
    assert oracle.round_fen(Fraction(12344999, 1000000)) == Decimal("12.34")
    assert oracle.exact_cny(Decimal("100.01"), Decimal("4.7321")) == Decimal("4.73257321")
    assert oracle.normalize_id("01", "610104620927690") == ("610104196209276908", True)
    assert oracle.normalize_id("21", "ｄ1234567－1")[0] == "D12345671"


# --- the pipeline's run against the manifest and the oracle ------------------------------


def test_every_province_published(
    loaded: Loaded, expected: dict[str, ProvinceResult], sample: Sample
) -> None:
    assert [(s.province, s.status, s.error) for s in loaded.summaries] == [
        (p, "published", None) for p in PROVINCES
    ]
    rows = query(
        loaded.url,
        "SELECT province, mode, business_date, status, published_at, customers, qualified,"
        " rejects FROM crm_load_batch ORDER BY province",
    )
    assert len(rows) == len(PROVINCES)
    for province, mode, day, status, published_at, customers, qualified, rejects in rows:
        result = expected[province]
        assert (mode, str(day), status) == ("initial", DAY.isoformat(), "published")
        assert published_at is not None
        assert customers == qualified == len(result.qualified())
        assert rejects == sum(f.set_aside for f in result.files)
    for s in loaded.summaries:
        result = expected[s.province]
        assert s.source_customers == len(result.customers)
        assert s.merged_customers == len(result.merged)
        assert s.qualified == len(result.qualified())


def test_every_file_reconciles(
    loaded: Loaded, expected: dict[str, ProvinceResult], sample: Sample
) -> None:
    """read = kept + set aside + filtered, and each count is the manifest's and the oracle's."""
    for s in loaded.summaries:
        result = expected[s.province]
        assert sorted(f.file for f in s.files) == sorted(f.name for f in result.files)
        stored = {
            r[0]: tuple(int(v) for v in r[1:])
            for r in query(
                loaded.url,
                "SELECT file, read, kept, set_aside, filtered, flagged FROM crm_file_count"
                " WHERE batch_id = :b",
                b=published_batch(loaded.url, s.province),
            )
        }
        for counts in s.files:
            mine = (counts.read, counts.kept, counts.set_aside, counts.filtered, counts.flagged)
            assert counts.read == counts.kept + counts.set_aside + counts.filtered, counts
            entry = sample.entry(counts.file)
            manifest = (
                entry["records"],
                entry["kept"],
                sum(entry["set_aside"].values()),
                entry["filtered"],
                entry["flagged"],
            )
            assert mine == manifest, counts.file
            assert mine == result.file(counts.file).counts(), counts.file
            assert stored[counts.file] == mine, counts.file


def test_qualified_customers_are_the_oracles(
    loaded: Loaded, expected: dict[str, ProvinceResult]
) -> None:
    rows = query(
        loaded.url,
        "SELECT province, cust_type, id_type, id_no, master_source, master_cust_no, score,"
        " qualified, name, source_count FROM crm_customer",
    )
    got = {
        (r[0], r[1], r[2], r[3]): (r[4], r[5], money(r[6]), bool(r[7]), r[8], r[9]) for r in rows
    }
    assert len(got) == len(rows)
    want = {
        (p, *m.key): (
            m.master.source,
            m.master.cust_no,
            m.score,
            True,
            m.master.name,
            len(m.members),
        )
        for p, result in expected.items()
        for m in result.qualified()
    }
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, (missing[:5], extra[:5])
    differ = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert not differ, list(differ.items())[:5]
    assert all(money(r[6]) == money(r[6]).quantize(Decimal("0.01")) for r in rows)


def _owners(url: str) -> dict[int, Key]:
    return {v: k for k, v in crm_ids(url).items()}


def test_accounts_of_crm_customers(loaded: Loaded, expected: dict[str, ProvinceResult]) -> None:
    owner = _owners(loaded.url)
    rows = query(
        loaded.url,
        "SELECT province, crm_cust_id, source, acct_no, source_cust_no, kind, currency, balance,"
        " balance_cny, status, in_scope FROM crm_account",
    )
    got = Counter(
        (
            owner[int(r[1])],
            r[0],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            money(r[7]),
            money(r[8]),
            r[9],
            bool(r[10]),
        )
        for r in rows
    )
    want = Counter(
        (
            (p, *m.key),
            p,
            a.source,
            a.acct_no,
            a.cust_no,
            a.kind,
            a.currency,
            a.balance,
            a.balance_cny,
            a.status,
            True,  # on the initial load every kept RTL account is at or above the filter
        )
        for p, result in expected.items()
        for m in result.qualified()
        for a in m.accounts
    )
    assert sum(want.values()) > 500
    assert got == want, (list((got - want).items())[:3], list((want - got).items())[:3])


def test_source_records_and_roles(loaded: Loaded, expected: dict[str, ProvinceResult]) -> None:
    owner = _owners(loaded.url)
    rows = query(
        loaded.url,
        "SELECT province, crm_cust_id, source, source_cust_no, role FROM crm_customer_source",
    )
    got = Counter((owner[int(r[1])], r[0], r[2], r[3], r[4]) for r in rows)
    want = Counter(
        ((p, *m.key), p, c.source, c.cust_no, "master" if c is m.master else "contact")
        for p, result in expected.items()
        for m in result.qualified()
        for c in m.members
    )
    assert got == want, (list((got - want).items())[:3], list((want - got).items())[:3])
    masters = Counter(k for k, _, _, _, role in got.elements() if role == "master")
    assert set(masters) == set(owner.values()) and set(masters.values()) == {1}


def test_one_reject_row_per_set_aside_record(
    loaded: Loaded, expected: dict[str, ProvinceResult], sample: Sample
) -> None:
    for province, result in expected.items():
        rows = query(
            loaded.url,
            "SELECT file, line, raw, reason, branch FROM crm_reject WHERE batch_id = :b",
            b=published_batch(loaded.url, province),
        )
        got = Counter((r[0], int(r[1])) for r in rows)
        from_manifest = Counter(
            (Path(e["file"]).name, i["line"])
            for e in sample.entries(province)
            for i in e["set_aside_lines"]
        )
        from_oracle = Counter(
            (f.name, line.number) for f in result.files for line in f.lines if line.set_aside
        )
        assert got == from_manifest == from_oracle
        assert all(reason and raw is not None for _, _, raw, reason, _ in rows)
        branches = {f.name: f.branch for f in result.files}
        assert all(branch == branches[file] for file, _, _, _, branch in rows)


# --- stable CRM customer numbers ---------------------------------------------------------


def _assert_numbered_in_key_order(ids: dict[Key, int]) -> None:
    """docs/warehouse.md: a batch hands out new numbers in sorted key order."""
    for province in PROVINCES:
        mine = sorted((k, v) for k, v in ids.items() if k[0] == province)
        numbers = [v for _, v in mine]
        assert numbers == sorted(numbers), province


def test_crm_cust_id_stable_across_reruns_and_order(
    sample: Sample, expected: dict[str, ProvinceResult], tmp_path: Path
) -> None:
    keys = qualified_keys(expected)
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    run_date(D, "initial", sample.landing, PROVINCES, first_url, tmp_path / "first")
    first = crm_ids(first_url)
    assert set(first) == keys
    again = run_date(D, "initial", sample.landing, PROVINCES, first_url, tmp_path / "first", True)
    assert [s.status for s in again] == ["published"] * len(PROVINCES)
    assert crm_ids(first_url) == first
    statuses = query(first_url, "SELECT province, status FROM crm_load_batch")
    assert Counter(statuses) == Counter(
        [(p, "published") for p in PROVINCES] + [(p, "superseded") for p in PROVINCES]
    )

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    for province in reversed(PROVINCES):
        run_date(D, "initial", sample.landing, [province], other_url, tmp_path / "other")
    other = crm_ids(other_url)
    assert set(other) == keys
    again = run_date(D, "initial", sample.landing, PROVINCES, other_url, tmp_path / "other", True)
    assert [s.status for s in again] == ["published"] * len(PROVINCES)
    assert crm_ids(other_url) == other
    _assert_numbered_in_key_order(first)
    _assert_numbered_in_key_order(other)


# --- a truncated file --------------------------------------------------------------------

TRUNCATED = f"CRD_ACCT_NB_{D}.dat"  # a city branch's file: it fails its province, ZJ


@pytest.fixture
def truncated(sample: Sample, tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(sample.landing, landing)
    path = landing / D / "NB" / TRUNCATED
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # its .ok still describes the whole file
    return landing


def test_truncated_file_fails_only_its_province(
    truncated: Path, expected: dict[str, ProvinceResult], tmp_path: Path
) -> None:
    assert [f.name for f in oracle.run_province(truncated, D, "ZJ").failed_files] == [TRUNCATED]
    assert not oracle.run_province(truncated, D, "GD").failed_files
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    summaries = {s.province: s for s in run_date(D, "initial", truncated, None, url, tmp_path)}
    assert set(summaries) == set(PROVINCES)
    assert summaries["ZJ"].status == "failed"
    assert TRUNCATED in (summaries["ZJ"].error or "")
    assert summaries["GD"].status == "published"
    published = query(url, "SELECT province FROM crm_load_batch WHERE status = 'published'")
    assert published == [("GD",)]
    ids = crm_ids(url)
    assert set(ids) == {k for k in qualified_keys(expected) if k[0] == "GD"}


def test_cli_exit_status_and_summary_when_a_province_fails(
    truncated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "run",
            "--date",
            D,
            "--mode",
            "initial",
            "--landing",
            str(truncated),
            "--warehouse",
            f"sqlite:///{tmp_path / 'warehouse.db'}",
            "--staging",
            str(tmp_path / "staging"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 3
    table = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert "province" in table and "status" in table["province"]
    assert table["ZJ"][1] == "failed" and table["GD"][1] == "published"
    assert TRUNCATED in out


# --- rules the generator does not exercise, on hand-made records -------------------------
#
# A small generated sample of ZJ and NB, plus records written here, each for one rule of
# the spec; the flags are rewritten to agree. The pipeline and the oracle must agree on
# every file's counts, every set-aside line and every qualified customer, and both must
# give the hand-computed results below.

EDGE_BRANCHES = ["ZJ", "NB"]


def valid_id_card(body17: str) -> str:
    return body17 + oracle.id_card_check(body17)


ORG = "MA27X5P3" + oracle.org_code_check("MA27X5P3")
CREDIT_1 = "91330100" + ORG + oracle.credit_code_check("91330100" + ORG)
CREDIT_2 = "91330200" + ORG + oracle.credit_code_check("91330200" + ORG)
ID_4BYTE = valid_id_card("33010619800101123")
ID_TWINS = valid_id_card("33010619750505432")
ID_ROUND = valid_id_card("33010619660606543")
ID_TIE = valid_id_card("33010619440404321")
FILTER_ZJ = Decimal(50_000)


def jpy_around_filter(rate: Decimal) -> tuple[Decimal, Decimal]:
    """The largest JPY balance strictly under ZJ's filter (by less than half a fen of CNY,
    so rounding the CNY equivalent would wrongly keep it) and the next fen up (kept)."""
    over = (FILTER_ZJ * 100 / rate).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    under = over - Decimal("0.01")
    assert under * rate / 100 < FILTER_ZJ <= over * rate / 100
    assert FILTER_ZJ - under * rate / 100 < Decimal("0.005")
    return under, over


def fixed_line(layout_name: str, values: dict[str, str]) -> bytes:
    """A fixed-width line: text left-aligned, numbers right-aligned, widths in bytes."""
    layout = oracle.layouts().layouts[layout_name]
    out = b""
    for spec in layout.fields:
        raw = values.get(spec.name, "").encode(layout.encoding)
        pad = b" " * ((spec.width or 0) - len(raw))
        assert len(pad) == (spec.width or 0) - len(raw) >= 0, spec.name
        out += pad + raw if spec.type in ("amount", "int") else raw + pad
    return out + b"\r\n"


def delimited_line(layout_name: str, values: list[str]) -> bytes:
    layout = oracle.layouts().layouts[layout_name]
    assert len(values) == len(layout.fields)
    return ("|".join(values) + "\n").encode(layout.encoding)


def rtl_cust(cust_no: str, name: str, id_no: str) -> dict[str, str]:
    return {
        "cust_no": cust_no,
        "cust_type": "P",
        "name": name,
        "id_type": "01",
        "id_no": id_no,
        "gender": "M",
        "birth_date": id_no[6:14],
        "mobile": "13800000000",
        "address": "浙江省杭州市",
        "postcode": "310000",
        "open_date": "20200101",
        "branch_code": "ZJ0001",
    }


def rtl_acct(acct_no: str, cust_no: str, currency: str, balance: str) -> bytes:
    return fixed_line(
        "RTL_ACCT",
        {
            "acct_no": acct_no,
            "cust_no": cust_no,
            "product": "D",
            "currency": currency,
            "balance": balance,
            "term_months": "0",
            "open_date": "20200101",
            "status": "N",
            "branch_code": "ZJ0001",
        },
    )


def crd_cust(cust_no: str, id_no: str, birth: str = "19750505") -> bytes:
    fields = [cust_no, "P", "卡客户", "I", id_no, "F", birth, "13900000000", "杭州", "310000"]
    return delimited_line("CRD_CUST", [*fields, "ZJ0001"])


def crd_acct(card_no: str, cust_no: str, deposit: str) -> bytes:
    fields = [card_no, cust_no, "CNY", deposit, "0.00", "100000.00", "20200101", "N", "ZJ0001"]
    return delimited_line("CRD_ACCT", fields)


def fnd_cust(cust_no: str, cust_type: str, id_type: str, id_no: str) -> bytes:
    fields = [cust_no, cust_type, "基金客户", id_type, id_no, "13700000000", "杭州", "ZJ0001"]
    return delimited_line("FND_CUST", fields)


def fnd_hold(fund_acct: str, cust_no: str, market_value: str) -> bytes:
    fields = [fund_acct, cust_no, "000001", "100000.00", "2.5000", market_value, "CNY", "ZJ0001"]
    return delimited_line("FND_HOLD", fields)


def append(landing: Path, branch: str, stem: str, *lines: bytes) -> None:
    path = landing / D / branch / f"{stem}_{branch}_{D}.dat"
    with path.open("ab") as handle:
        for line in lines:
            handle.write(line)


def rewrite_flags(landing: Path) -> None:
    for path in sorted(landing.rglob("*.dat")):
        system, entity = path.name.split("_")[:2]
        layout = oracle.layouts().layout_for(system, entity)
        path.with_suffix(".ok").write_text(oracle.flag_for(path, layout), encoding="ascii")


@dataclass(frozen=True)
class Edge:
    landing: Path
    result: ProvinceResult
    url: str
    summaries: list[ProvinceSummary]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Edge:
    landing = tmp_path_factory.mktemp("edge")
    write_sample(landing, DAY, EDGE_BRANCHES, 40, 5)
    base = oracle.run_province(landing, D, "ZJ")

    def first_kept(name: str) -> bytes:
        f = base.file(name)
        line = f.kept_lines()[0].number
        return oracle.split_lines(f.path.read_bytes())[line - 1]

    # NB resends a ZJ customer number and a ZJ account number: set aside at NB.
    append(landing, "NB", "RTL_CUST", first_kept(f"RTL_CUST_ZJ_{D}.dat"))
    append(landing, "NB", "RTL_ACCT", first_kept(f"RTL_ACCT_ZJ_{D}.dat"))
    straddling = bytearray(fixed_line("RTL_CUST", rtl_cust("ZJ9000000000003", "A" * 60, "x")))
    straddling[16 + 1 + 59 : 16 + 1 + 61] = "王".encode("gb18030")  # lead byte ends `name`
    append(
        landing,
        "ZJ",
        "RTL_CUST",
        fixed_line("RTL_CUST", rtl_cust("ZJ9000000000001", "\U00020000王", ID_4BYTE)),
        fixed_line("RTL_CUST", rtl_cust("ZJ9000000000002", "李", ID_ROUND))[:-2] + b"\n",
        bytes(straddling),
    )
    under, over = jpy_around_filter(oracle.read_rates(landing, D)["JPY"])
    append(
        landing,
        "ZJ",
        "RTL_ACCT",
        rtl_acct("6211999900000000000001", "ZJ9000000000001", "CNY", "600000.00"),
        rtl_acct("6211999900000000000004", "ZJ9000000000001", "JPY", str(under)),
        rtl_acct("6211999900000000000005", "ZJ9000000000001", "JPY", str(over)),
        rtl_acct("6211999900000000000002", "ZJ9000000000001", "DKK", "100000.00"),
    )
    # A city's account of a customer that only the province file sends is not an orphan.
    append(
        landing,
        "NB",
        "RTL_ACCT",
        rtl_acct("6211999900000000000003", "ZJ9000000000001", "CNY", "100000.00"),
    )
    # Digit-only customer numbers order numerically ("99" before "100"); a key sent twice
    # in one file sets aside both copies even when one copy also fails its type.
    append(
        landing,
        "ZJ",
        "CRD_CUST",
        crd_cust("100", ID_TWINS),
        crd_cust("99", ID_TWINS),
        crd_cust("C900003", ID_ROUND, birth="19660606"),
        crd_cust("C900009", valid_id_card("33010619550505111")),
        crd_cust("C900009", valid_id_card("33010619550505111"), birth="20261332"),
        crd_cust("42", ID_TIE),
        crd_cust("0042", ID_TIE),
    )
    append(
        landing,
        "ZJ",
        "CRD_ACCT",
        crd_acct("6225999900000099", "99", "300000.00"),
        crd_acct("6225999900000100", "100", "300000.00"),
        crd_acct("6225999900000003", "C900003", "454545.45"),  # 1.1 x = 499999.995
        crd_acct("6225999900000042", "42", "500000.00"),
    )
    # Exactly on the threshold, and a fen under; an organization code that two distinct
    # credit codes embed stays keyed by itself.
    append(
        landing,
        "ZJ",
        "FND_CUST",
        fnd_cust("F900001", "P", "03", "E12345678"),
        fnd_cust("F900002", "P", "03", "E12345679"),
        fnd_cust("F900010", "C", "23", CREDIT_1),
        fnd_cust("F900011", "C", "23", CREDIT_2),
        fnd_cust("F900012", "C", "21", f"{ORG[:8].lower()}-{ORG[8]}"),
        fnd_cust("F900020", "P", "03", "\u3000"),  # nothing left after clean-up
    )
    append(
        landing,
        "ZJ",
        "FND_HOLD",
        fnd_hold("FA9000000001", "F900001", "250000.00"),
        fnd_hold("FA9000000002", "F900002", "249999.99"),
        fnd_hold("FA9000000010", "F900010", "6000000.00"),
        fnd_hold("FA9000000011", "F900011", "6000000.00"),
        fnd_hold("FA9000000012", "F900012", "6000000.00"),
        fnd_hold("FA9000000020", "F900020", "300000.00"),
    )
    # No DKK rate on the date: DKK accounts are set aside.
    fx = landing / D / f"FXR_RATE_{D}.dat"
    fx.write_bytes(b"".join(x for x in oracle.split_lines(fx.read_bytes()) if b"DKK" not in x))
    rewrite_flags(landing)

    result = oracle.run_province(landing, D, "ZJ")
    work = tmp_path_factory.mktemp("edge-run")
    url = f"sqlite:///{work / 'warehouse.db'}"
    summaries = run_date(D, "initial", landing, ["ZJ"], url, work / "staging")
    return Edge(landing, result, url, summaries)


def _qualified_rows(url: str) -> dict[Key, tuple[str, str, Decimal]]:
    rows = query(
        url,
        "SELECT province, cust_type, id_type, id_no, master_source, master_cust_no, score"
        " FROM crm_customer WHERE qualified",
    )
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5], money(r[6])) for r in rows}


def test_edge_cases_by_hand(edge: Edge) -> None:
    """The oracle's reading of the hand-made records is the hand-computed one."""
    r = edge.result
    assert not r.failed_files

    def aside(name: str) -> dict[int, str | None]:
        return {line.number: line.set_aside for line in r.file(f"{name}_{D}.dat").lines}

    nb_cust, nb_acct = aside("RTL_CUST_NB"), aside("RTL_ACCT_NB")
    assert nb_cust[max(nb_cust)] == "cross_branch"
    assert nb_acct[max(nb_acct) - 1] == "cross_branch"
    zj_cust = aside("RTL_CUST_ZJ")
    last = max(zj_cust)
    assert [zj_cust[last - 2], zj_cust[last - 1], zj_cust[last]] == [None, "line_end", "decode"]
    zj_acct = aside("RTL_ACCT_ZJ")
    assert zj_acct[max(zj_acct)] == "no_rate"
    jpy = {line.number: line.filtered for line in r.file(f"RTL_ACCT_ZJ_{D}.dat").lines[-3:-1]}
    assert list(jpy.values()) == [True, False] and all(zj_acct[n] is None for n in jpy)
    assert nb_acct[max(nb_acct)] is None  # the city's account of a province customer
    crd = aside("CRD_CUST_ZJ")
    assert [crd[max(crd) - 3], crd[max(crd) - 2]] == ["duplicate_key", "date"]

    by_key = {m.key: m for m in r.merged}
    four_byte = by_key[("P", "01", ID_4BYTE)]
    _, over = jpy_around_filter(oracle.read_rates(edge.landing, D)["JPY"])
    by_hand = (
        Decimal("700000.00")
        + Decimal("1.5") * over * oracle.read_rates(edge.landing, D)["JPY"] / 100
    )
    assert four_byte.master.name == "\U00020000王"
    assert four_byte.score == by_hand.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert sorted(a.acct_no[-1] for a in four_byte.accounts) == ["1", "3", "5"]
    tie = by_key[("P", "01", ID_TIE)]
    assert (tie.master.cust_no, len(tie.members)) == ("0042", 2)
    (no_id,) = [m for m in r.merged if m.members[0].cust_no == "F900020"]
    assert (no_id.id_no, no_id.qualified, no_id.members[0].id_valid) == (
        "(no id) FND F900020",
        True,
        False,
    )
    twins = by_key[("P", "01", ID_TWINS)]
    assert (twins.master.source, twins.master.cust_no, twins.score) == (
        "CRD",
        "99",
        Decimal("660000.00"),
    )
    rounded = by_key[("P", "01", ID_ROUND)]
    assert (rounded.score, rounded.qualified) == (Decimal("500000.00"), True)
    on, under = by_key[("P", "03", "E12345678")], by_key[("P", "03", "E12345679")]
    assert (on.score, on.qualified, under.score, under.qualified) == (
        Decimal("500000.00"),
        True,
        Decimal("499999.98"),
        False,
    )
    for key in [("C", "23", CREDIT_1), ("C", "23", CREDIT_2), ("C", "21", ORG)]:
        assert by_key[key].qualified and len(by_key[key].members) == 1


def test_edge_cases_pipeline_agrees_with_oracle(edge: Edge) -> None:
    assert [(s.province, s.status, s.error) for s in edge.summaries] == [("ZJ", "published", None)]
    (summary,) = edge.summaries
    for counts in summary.files:
        mine = (counts.read, counts.kept, counts.set_aside, counts.filtered, counts.flagged)
        assert mine == edge.result.file(counts.file).counts(), counts.file
    rows = query(
        edge.url,
        "SELECT file, line FROM crm_reject WHERE batch_id = :b",
        b=published_batch(edge.url, "ZJ"),
    )
    assert Counter((r[0], int(r[1])) for r in rows) == Counter(
        (f.name, line.number) for f in edge.result.files for line in f.lines if line.set_aside
    )
    want = {
        ("ZJ", *m.key): (m.master.source, m.master.cust_no, m.score)
        for m in edge.result.qualified()
    }
    assert _qualified_rows(edge.url) == want
