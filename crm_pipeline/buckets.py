"""The per-bucket jobs of an initial load (transform/partition.py): merge, then score.

Each job reads one bucket's Parquet files and writes its own, so it can run in a worker
process (these functions are what the workers import) and a rerun redoes only the buckets
whose outputs are missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError
from common.intermediate import read_table, write_table
from common.paths import formulas_dir
from transform.merge import merge_customers


def _read(paths: Sequence[Path]) -> pa.Table:
    """A bucket's table from its files (one per staged file, in file order)."""
    return pa.concat_tables(read_table(p) for p in paths)


def merge_bucket(
    customers: Sequence[Path],
    source_customers: Path,
    merged: Path,
    links: Path,
    source_priority: tuple[str, ...],
) -> dict[str, int]:
    """One bucket's source customer records (written back as one file, the load's and the
    state's part) -> its merged customers and their links."""
    table = _read(customers)
    write_table(table, source_customers)
    merged_table, link_table = merge_customers(table, source_priority)
    write_table(merged_table, merged)
    write_table(link_table, links)
    return {"read": table.num_rows, "written": merged_table.num_rows}


def _formulas(province: str, business_date: date) -> Any:
    """The formulas in force, read once per worker process for the same files: the cache
    is keyed by the directory and its files' content, so formulas edited between two runs
    of one process (a rerun after a crash, a test, a trial) are never scored stale."""
    from transform.scoring import formula_paths

    directory = formulas_dir()
    content = hashlib.sha256()
    for path in formula_paths([directory]) if directory.is_dir() else []:
        content.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return _formulas_of(province, business_date, str(directory), content.hexdigest())


@cache
def _formulas_of(province: str, business_date: date, directory: str, _content: str) -> Any:
    from transform.scoring import load_formulas

    return load_formulas(Path(directory)).for_province(province, business_date)


def _ids(formula_ids: dict[str, str]) -> str:
    return ", ".join(formula_ids[t] for t in sorted(formula_ids)) or "none"


def source_key(table: pa.Table, number: str) -> pa.Array:
    """One string per (source, number): a system code never holds the separator."""
    joined = pc.binary_join_element_wise(table.column("source"), table.column(number), "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def keyed_accounts(accounts: pa.Table, links: pa.Table, merged: pa.Table) -> pa.Table:
    """Accounts with their merged customer's key and type, in file and line order; None
    where an account's customer is not in the bucket.

    Looked up (`index_in`), not joined: a bucket's accounts keep their order, and Acero's
    hash join took ten times as long (0.2-0.6 s a bucket of 300,000 accounts against 0.04),
    then needed a sort to restore the order.
    """
    at = pc.index_in(source_key(accounts, "cust_no"), value_set=source_key(links, "cust_no"))
    cust_key = links.column("cust_key").take(at)
    cust_type = merged.column("cust_type").take(
        pc.index_in(cust_key, value_set=merged.column("cust_key"))
    )
    keyed = accounts.append_column("cust_key", cust_key).append_column("cust_type", cust_type)
    return (
        keyed
        if _in_file_order(keyed)
        else keyed.sort_by([("file", "ascending"), ("line", "ascending")])
    )


def _in_file_order(table: pa.Table) -> bool:
    """Whether rows are ordered by (file, line): a bucket's files are read in name order,
    so they are, unless a caller lists them otherwise."""
    if table.num_rows < 2:
        return True
    file, line = table.column("file"), table.column("line")
    head, tail = slice(0, table.num_rows - 1), slice(1, table.num_rows)
    file_a, file_b = file[head], file[tail]
    later_file = pc.less(file_a, file_b)
    same_file_later_line = pc.and_(pc.equal(file_a, file_b), pc.less(line[head], line[tail]))
    return bool(pc.all(pc.or_(later_file, same_file_later_line)).as_py())


def score_bucket(
    province: str,
    business_date: date,
    accounts: Sequence[Path],
    links: Path,
    merged: Path,
    scoring_input: Path,
    scored: Path,
    formula_ids: dict[str, str],
) -> dict[str, int]:
    """One bucket's scores: the accounts keyed to their customers (the formula trial's
    input) and the merged customers with score, qualified and formula id.

    `formula_ids` are the ids of the formulas the run started with (its identity): a worker
    that reads other formulas (an analyst saved a file during the run) refuses, rather than
    publish a province scored half with one formula and half with another."""
    formulas = _formulas(province, business_date)
    if formulas.formula_ids != formula_ids:
        raise PipelineError(
            f"the formulas in {formulas_dir()} changed during the run of {province}"
            f" {business_date:%Y%m%d} (in force at its start: {_ids(formula_ids)}; now:"
            f" {_ids(formulas.formula_ids)}): rerun the night to score it with one set"
        )
    merged_table = read_table(merged)
    account_table = _read(accounts)
    keyed = keyed_accounts(account_table, read_table(links), merged_table)
    lost = keyed.column("cust_key").null_count
    if lost:
        # Every account was put in its customer's bucket; one without its customer here
        # would otherwise vanish from the load while the reconciliation counts it as kept.
        raise PipelineError(
            f"{scoring_input.name}: {lost} of"
            f" {account_table.num_rows} accounts have no customer in their bucket"
        )
    write_table(keyed, scoring_input)
    scores = formulas.score(keyed, merged_table)
    if not scores.column("cust_key").equals(merged_table.column("cust_key")):
        raise AssertionError(f"{scored}: scores are not aligned with their customers")
    customers = merged_table
    for name in scores.column_names[1:]:
        customers = customers.append_column(scores.schema.field(name), scores.column(name))
    write_table(customers, scored)
    qualified = pc.sum(scores.column("qualified").cast(pa.int64())).as_py() or 0
    return {"read": keyed.num_rows, "written": scores.num_rows, "qualified": int(qualified)}
