"""The whole initial load, end to end, on generated sample dumps, against tests/oracle.py.

The sample generator's manifest says what it injected; the oracle re-reads the same files
one record at a time, from the spec alone; the pipeline runs for real (`run_date`) into a
SQLite file and into a PostgreSQL database. The three must tell the same story: per-file
counts, the set-aside lines, the qualified customers with their master record and score to
the fen, their accounts and source records, and stable CRM customer numbers.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from crm_pipeline.run import run_date
from tests.end_to_end.conftest import (
    DAY,
    PROVINCES,
    D,
    Key,
    Loaded,
    Sample,
    crm_ids,
    money,
    published_batch,
    qualified_keys,
    query,
)  # fmt: skip
from tests.oracle import ProvinceResult


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
