"""Who counts as a known customer for the orphan rule (core-dumps.md section 8).

An account is an orphan when its (source, cust_no) is not among the known customers of
its own system: the province's kept customer records (so the accounts of a customer set
aside are orphans too), and on a daily run the customers of the day's state plus those
deleted today (their accounts' own deletions may come in the same night). The rule is
written here once; `transform.conform.apply_account_rules` sets the orphans aside.

The initial load's cut asks the same question of the cut's customer numbers
(`owner_buckets`), by hash search: there it must also say which bucket the customer is in,
and cannot hold a province's customer numbers in a hash table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transform.hashing import hashes_of

CUSTOMER_KEY = ["source", "cust_no"]


def known_customers(*records: pa.Table) -> pa.Table:
    """The distinct (source, cust_no) of the given customer tables: the known customers."""
    keys = [t.select(CUSTOMER_KEY) for t in records]
    if not keys:
        return pa.table({k: pa.array([], pa.string()) for k in CUSTOMER_KEY})
    return pa.concat_tables(keys).group_by(CUSTOMER_KEY).aggregate([])


def known_customer_rows(accounts: pa.Table, customers: pa.Table) -> np.ndarray:
    """Mask of the account rows whose (source, cust_no) is among `customers`' records.

    One hash lookup per system (`is_in` against that system's customer numbers) instead
    of a join, which would copy every account column.
    """
    known = np.zeros(accounts.num_rows, dtype=bool)
    if accounts.num_rows == 0:
        return known
    source = accounts.column("source")
    cust_no = accounts.column("cust_no")
    customer_source = customers.column("source")
    for system in pc.unique(source).to_pylist():
        rows = pc.equal(source, system)
        value_set = customers.column("cust_no").filter(pc.equal(customer_source, system))
        found = pc.is_in(cust_no.filter(rows), value_set=value_set.combine_chunks())
        known[np.flatnonzero(rows.to_numpy(zero_copy_only=False))] = found.to_numpy(
            zero_copy_only=False
        )
    return known


def owner_buckets(
    batches: Callable[[], Iterator[pa.Array]], numbers: Sequence[Path]
) -> npt.NDArray[np.int32]:
    """Per account row, the bucket of its customer, or -1 for an orphan: `batches()` yields
    the account file's customer numbers (strings) batch by batch, and is called once per
    customer file of `numbers` (`transform.partition.FileCut.numbers`: each a customer
    file's kept customer numbers and their buckets) plus once.

    A sorted search of 64-bit hashes, each hit checked against the customer number itself
    (exact), not a hash table over the strings: memory is eight bytes a row of the account
    file and about twenty-four a row of one customer file's numbers, plus those numbers.
    Arrow's `index_in` over them made a conform worker the largest process at 30 million
    accounts (1.3 GiB, growing with the file).
    """
    hashed = hashes_of(batches())
    owner = np.full(len(hashed), -1, np.int32)
    for path in numbers:  # one customer file's numbers at a time
        known = pq.read_table(path)
        known_no = known.column("cust_no").combine_chunks()
        known_bucket = known.column("bucket").to_numpy()
        known_hash = hashes_of([known_no])
        order = np.argsort(known_hash, kind="stable")
        sorted_hash = known_hash[order]
        del known, known_hash
        if len(sorted_hash) == 0:
            continue
        # Distinct numbers sharing a hash (collisions): looked up exactly, among themselves.
        shared = np.zeros(len(sorted_hash), bool)
        same = sorted_hash[1:] == sorted_hash[:-1]
        shared[1:] |= same
        shared[:-1] |= same
        colliding = np.sort(order[shared])
        offset = 0
        for values in batches():
            n = len(values)
            h = hashed[offset : offset + n]
            at = np.minimum(np.searchsorted(sorted_hash, h), len(sorted_hash) - 1)
            found = sorted_hash[at] == h
            single = np.flatnonzero(found & ~shared[at])
            if len(single):
                candidate = order[at[single]]
                equal = pc.equal(values.take(pa.array(single)), known_no.take(pa.array(candidate)))
                hit = equal.fill_null(False).to_numpy(zero_copy_only=False)
                owner[offset + single[hit]] = known_bucket[candidate[hit]]
            several = np.flatnonzero(found & shared[at])
            if len(several):
                among = known_no.take(pa.array(colliding))
                position = pc.index_in(values.take(pa.array(several)), value_set=among)
                where = position.fill_null(-1).to_numpy(zero_copy_only=False)
                hit = where >= 0
                owner[offset + several[hit]] = known_bucket[colliding[where[hit]]]
            offset += n
        del known_no, order, sorted_hash, shared
    return owner
