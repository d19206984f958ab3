"""Cutting a province into buckets changes nothing but the order of its records."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from common import config as cfg
from common.intermediate import read_table
from common.paths import formulas_dir
from common.schema import SOURCE_CUSTOMER
from crm_pipeline.sample import write_sample
from extract.flag import flag_path, read_flag
from extract.landing import province_files
from extract.lines import raw_lines
from tests.ingesting import ingest_landed
from transform.conform import StagedFile, conform_accounts, conform_customers, first_occurrence
from transform.fx import rates_table
from transform.hashing import (
    first_appearance,
    first_appearance_streamed,
    hashes_of,
    repeated_rows_streamed,
    shared_rows,
    taken,
)
from transform.merge import resolve_keys
from transform.partition import (
    Partitioned,
    cut_accounts,
    cut_customers,
    first_rows,
    identity_buckets,
    numbers_of,
    partitioned,
    stable_hash,
)

DAY = date(2026, 11, 24)


def test_stable_hash_is_the_strings_own() -> None:
    values = pa.array(["C|22|330106242366160", "x", "", "C|22|330106242366160", "长的名字" * 9])
    hashed = stable_hash(values)
    assert hashed[0] == hashed[3]
    assert len(set(hashed.tolist())) == 4
    # the same string hashes the same alone, sliced, or beside longer ones (a restart
    # must put a record in the same bucket whatever else its slice holds)
    for i in range(len(values)):
        assert stable_hash(values.slice(i, 1))[0] == hashed[i]
    # strings all of one length take a shorter path (no gather): the same hashes
    same_length = pa.array(["330106242366160", "330106242366161", "330106242366160"])
    mixed = stable_hash(pa.concat_arrays([same_length, pa.array(["x"])]))
    assert stable_hash(same_length).tolist() == mixed[:3].tolist()
    assert stable_hash(pa.chunked_array([same_length[:1], same_length[1:]])).tolist() == (
        mixed[:3].tolist()
    )
    # FNV-1a of the length then the bytes: pinned, so a change of function is seen
    assert int(stable_hash(pa.array(["a"]))[0]) == 0x082F4307B4E8C4D7


def _customers(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "source": [r[0] for r in rows],
            "cust_no": [f"{i:016d}" for i in range(n)],
            "cust_type": [r[1] for r in rows],
            "id_type": [r[2] for r in rows],
            "id_no": [r[3] for r in rows],
            "id_valid": [True] * n,
        }
    )


@pytest.mark.parametrize("buckets", [2, 7, 64])
def test_records_that_merge_share_a_bucket(buckets: int) -> None:
    # an organization code, the credit code embedding it, the same person twice, no id
    table = _customers(
        [
            ("RTL", "C", "21", "MA27UPL3X"),
            ("LON", "C", "23", "91330106MA27UPL3XG"),
            ("FND", "C", "23", "91330106MA27UPL3XG"),
            ("RTL", "P", "01", "330106198001011235"),
            ("CRD", "P", "01", "330106198001011235"),
            ("RTL", "P", "01", ""),
            *[("RTL", "P", "01", f"33010619800101{i:04d}") for i in range(200)],
        ]
    )
    bucket = identity_buckets(table, buckets)
    keys = resolve_keys(table).column("cust_key").to_pylist()
    first: dict[str, int] = {}
    for key, b in zip(keys, bucket.tolist(), strict=True):
        assert first.setdefault(key, b) == b, key
    assert bucket[0] == bucket[1] == bucket[2]  # 21 and the 23 that embeds it
    assert set(bucket.tolist()) == set(range(buckets))  # and they do spread


def _province(tmp_path: Path) -> tuple[list[StagedFile], list[StagedFile], pa.Table]:
    landing = tmp_path / "landing"
    write_sample(landing, DAY, ["ZJ", "NB"], 300, 3)
    day = DAY.strftime("%Y%m%d")
    layouts = cfg.layouts()
    found = province_files(landing, day, "ZJ", "initial", cfg.provinces())
    assert not found.problems
    staged: dict[str, list[StagedFile]] = {"customer": [], "account": []}
    for landed in found.files:
        layout = layouts.layout_for(landed.system, landed.entity)
        out = tmp_path / "parsed" / landed.name.replace(".dat", ".parquet")
        out.parent.mkdir(parents=True, exist_ok=True)
        ingest_landed(landed.path, layout, layouts, landed.flag, out, landed.branch)
        staged[layout.role].append(
            StagedFile(
                landed.path, out, layout, landed.system, landed.entity, landed.branch, raw_lines
            )
        )
    fx = next((landing / day).glob("FXR_RATE_*.dat"))
    fx_out = tmp_path / "parsed" / "fx.parquet"
    ingest_landed(fx, layouts.layouts["FXR_RATE"], layouts, read_flag(flag_path(fx)), fx_out, "")
    return staged["customer"], staged["account"], rates_table(pq.read_table(fx_out))


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    names = sorted(table.column_names)
    return sorted(tuple(str(v) for v in row.values()) for row in table.select(names).to_pylist())


def _numbers(path: Path) -> set[tuple[str, str]]:
    table = read_table(path, columns=["source", "cust_no"])
    return set(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def partition_province(
    customer_files: list[StagedFile],
    account_files: list[StagedFile],
    rates: pa.Table,
    export_filter: Decimal | None,
    *,
    drop_filtered: bool,
    buckets: int,
    out: Path,
) -> Partitioned:
    """The runner's file jobs of the conform step (crm_pipeline/runner.py), in this process:
    each customer file cut, then each account file, then the cut's summary."""
    counts = [
        cut_customers(f, first, buckets, out)
        for f, first in zip(customer_files, first_rows(customer_files, "cust_no"), strict=True)
    ]
    for f, first in zip(account_files, first_rows(account_files, "acct_no"), strict=True):
        numbers = numbers_of(out, customer_files, f.system)
        counts.append(
            cut_accounts(f, first, numbers, rates, export_filter, drop_filtered, buckets, out)
        )
    return partitioned(customer_files, account_files, counts, buckets, out)


@pytest.mark.parametrize("buckets", [1, 4])
def test_partition_equals_the_province_at_once(tmp_path: Path, buckets: int) -> None:
    customer_files, account_files, rates = _province(tmp_path)
    limit = Decimal("50000")
    customers = conform_customers(customer_files)
    accounts = conform_accounts(account_files, customers.table, rates, limit)

    parts = partition_province(
        customer_files, account_files, rates, limit,
        drop_filtered=True, buckets=buckets, out=tmp_path / "cut",
    )  # fmt: skip
    assert len(parts.customers) == len(parts.accounts) == buckets
    cut_customers = pa.concat_tables(read_table(p) for ps in parts.customers for p in ps)
    cut_accounts = pa.concat_tables(read_table(p) for ps in parts.accounts for p in ps)
    cut_rejects = pa.concat_tables(pq.read_table(p) for p in parts.rejects)

    assert cut_customers.schema.equals(SOURCE_CUSTOMER)
    assert _rows(cut_customers) == _rows(customers.table)
    assert _rows(cut_accounts) == _rows(accounts.table)
    assert _rows(cut_rejects) == _rows(pa.concat_tables([customers.rejects, accounts.rejects]))
    assert cut_rejects.num_rows > 0  # the sample injects duplicates and orphans
    assert parts.filtered == accounts.filtered and sum(parts.filtered.values()) > 0
    kept = cut_customers.num_rows + cut_accounts.num_rows
    assert sum(parts.kept.values()) == kept
    # every account sits in the bucket of its customer
    for b, (c, a) in enumerate(zip(parts.customers, parts.accounts, strict=True)):
        customers_in_b = set().union(*(_numbers(p) for p in c))
        assert set().union(*(_numbers(p) for p in a)) <= customers_in_b, f"bucket {b}"


def test_first_appearance_is_first_occurrence() -> None:
    rng = np.random.default_rng(5)
    values = pa.array([f"K{v}" for v in rng.integers(0, 3000, 20000)])
    expected = first_occurrence(pa.table({"k": values}), ["k"])
    assert first_appearance(values).tolist() == expected.tolist()
    assert first_appearance(pa.array(["a", "b", "a", "c", "b"])).tolist() == [
        True, True, False, True, False,
    ]  # fmt: skip


def test_first_appearance_across_chunks_and_nulls() -> None:
    chunked = pa.chunked_array([["a", "b"], ["a", None], ["c", "", None, "b"]])
    assert first_appearance(chunked).tolist() == [
        True, True, False, True, True, False, False, False,
    ]  # fmt: skip


def _two_bit_hash(values: pa.Array) -> np.ndarray:
    return stable_hash(values) % np.uint64(4)


def test_streamed_answers_equal_the_in_memory_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    values = pa.array([f"S{v}" if v else None for v in rng.integers(0, 800, 6000)])
    batches = [values.slice(i, 700) for i in range(0, len(values), 700)]
    for bits in (64, 2):  # real hashes, then nearly all shared
        if bits == 2:
            monkeypatch.setattr("transform.hashing.stable_hash", _two_bit_hash)
        expected = first_occurrence(pa.table({"k": values.fill_null("")}), ["k"])
        assert first_appearance_streamed(lambda: iter(batches)).tolist() == expected.tolist()
        counts = pc.value_counts(values.fill_null("")).to_pylist()
        repeated = {c["values"] for c in counts if c["counts"] > 1}
        want = [i for i, v in enumerate(values.fill_null("").to_pylist()) if v in repeated]
        hashed = hashes_of(batches)
        assert repeated_rows_streamed(hashed, lambda: iter(batches)).tolist() == want


def test_shared_rows_and_taken() -> None:
    hashed = np.array([5, 1, 5, 2, 9, 1, 7], np.uint64)
    assert shared_rows(hashed).tolist() == [0, 1, 2, 5]
    assert shared_rows(np.array([3, 4], np.uint64)).tolist() == []
    batches = [pa.array([10, 11, 12]), pa.array([13]), pa.array([14, 15])]
    assert taken(batches, np.array([1, 3, 5], np.int64)).to_pylist() == [11, 13, 15]
    assert taken(batches, np.zeros(0, np.int64)).type == pa.int64()


def test_first_appearance_is_exact_when_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    # a hash of 2 bits: almost every value shares its hash with others, and the answer
    # must still be the exact one (strings compared where hashes are equal)
    real = stable_hash
    monkeypatch.setattr("transform.hashing.stable_hash", lambda v: real(v) % np.uint64(4))
    rng = np.random.default_rng(9)
    values = pa.array([f"A{v}" for v in rng.integers(0, 500, 4000)])
    expected = first_occurrence(pa.table({"k": values}), ["k"])
    assert first_appearance(values).tolist() == expected.tolist()


def _cut_in_two_and_merge(tmp_path: Path, bucket: int) -> tuple[Partitioned, Path]:
    """The sample province cut in two buckets, and `bucket`'s customers merged into a
    folder (c, m, l .parquet: source customers, merged, links)."""
    from crm_pipeline.buckets import merge_bucket

    customer_files, account_files, rates = _province(tmp_path)
    parts = partition_province(
        customer_files, account_files, rates, Decimal("50000"),
        drop_filtered=True, buckets=2, out=tmp_path / "cut",
    )  # fmt: skip
    folder = tmp_path / "b"
    folder.mkdir()
    merge_bucket(
        parts.customers[bucket], folder / "c.parquet", folder / "m.parquet",
        folder / "l.parquet", ("RTL", "CRD", "LON", "FND"),
    )  # fmt: skip
    return parts, folder


def test_a_bucket_that_lost_a_customer_is_refused(tmp_path: Path) -> None:
    # an account whose customer is not in its bucket must stop the score step, not vanish
    from common.errors import PipelineError
    from crm_pipeline.buckets import score_bucket

    parts, folder = _cut_in_two_and_merge(tmp_path, 1)  # bucket 1's customers, 0's accounts
    with pytest.raises(PipelineError, match="have no customer in their bucket"):
        score_bucket(
            "ZJ", DAY, parts.accounts[0], folder / "l.parquet", folder / "m.parquet",
            folder / "k.parquet", folder / "s.parquet", _formula_ids_in_force(),
        )  # fmt: skip


def _formula_ids_in_force() -> dict[str, str]:
    from transform.scoring import load_formulas

    return load_formulas(formulas_dir()).for_province("ZJ", DAY).formula_ids


def test_a_bucket_scored_with_formulas_edited_during_the_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the run started with the shipped formulas; an analyst saves a lowered threshold
    # before this bucket is scored: the worker refuses instead of mixing two formulas
    from common.errors import PipelineError
    from crm_pipeline.buckets import score_bucket

    at_start = _formula_ids_in_force()
    edited = tmp_path / "formulas"
    shutil.copytree(formulas_dir(), edited)
    reference = edited / "reference.yaml"
    text = reference.read_text(encoding="utf-8")
    assert "  ZJ: {}\n" in text
    reference.write_text(text.replace("  ZJ: {}\n", "  ZJ:\n    thresholds: {P: 400000}\n"))
    monkeypatch.setenv("CRM_FORMULAS_DIR", str(edited))
    parts, folder = _cut_in_two_and_merge(tmp_path, 0)
    args = (parts.accounts[0], folder / "l.parquet", folder / "m.parquet",
            folder / "k.parquet", folder / "s.parquet")  # fmt: skip
    with pytest.raises(PipelineError, match="changed during the run of ZJ 20261124") as said:
        score_bucket("ZJ", DAY, *args, at_start)
    assert at_start["P"] in str(said.value)
    assert not (folder / "s.parquet").exists()
    now = _formula_ids_in_force()
    assert now["P"] != at_start["P"] and now["C"] == at_start["C"]
    assert score_bucket("ZJ", DAY, *args, now)["written"] > 0


def test_keyed_accounts_are_the_join_in_file_order(tmp_path: Path) -> None:
    # accounts are looked up, not joined: the same rows as the inner join of accounts to
    # links to merged customers, in file and line order whatever order the files are read in
    from crm_pipeline.buckets import keyed_accounts

    parts, folder = _cut_in_two_and_merge(tmp_path, 0)
    links, merged = pq.read_table(folder / "l.parquet"), pq.read_table(folder / "m.parquet")
    accounts = pa.concat_tables(read_table(p) for p in reversed(parts.accounts[0]))
    joined = (
        accounts.join(links.select(["source", "cust_no", "cust_key"]), ["source", "cust_no"])
        .join(merged.select(["cust_key", "cust_type"]), "cust_key")
        .sort_by([("file", "ascending"), ("line", "ascending")])
    )
    keyed = keyed_accounts(accounts, links, merged)
    assert len({f for f in accounts.column("file").to_pylist()}) > 1  # the order is tested
    assert keyed.column("cust_key").null_count == 0
    assert keyed.select(joined.column_names).to_pylist() == joined.to_pylist()


@pytest.mark.parametrize("hash_bits", [64, 2])
def test_owner_buckets_are_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_bits: int
) -> None:
    # each account's bucket is its customer's, -1 for an orphan, from a sorted search of
    # hashes checked against the numbers: exact also when (2-bit) hashes collide
    from transform.partition import _owner_buckets

    customer_files, account_files, rates = _province(tmp_path)
    partition_province(
        customer_files, account_files, rates, Decimal("50000"),
        drop_filtered=True, buckets=3, out=tmp_path / "cut",
    )  # fmt: skip
    if hash_bits == 2:
        monkeypatch.setattr("transform.hashing.stable_hash", _two_bit_hash)
    orphans = 0
    for f in account_files:
        numbers = numbers_of(tmp_path / "cut", customer_files, f.system)
        known: dict[str, int] = {}
        for path in numbers:
            table = pq.read_table(path)
            known.update(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
        cust_no = pq.read_table(f.staged).column("cust_no").to_pylist()
        expected = [known.get(c, -1) for c in cust_no]
        assert _owner_buckets(f, numbers).tolist() == expected, f.source_path.name
        orphans += expected.count(-1)
    assert orphans > 0  # the sample injects orphans
