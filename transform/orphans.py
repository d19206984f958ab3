"""Who counts as a known customer for the orphan rule (core-dumps.md section 8).

An account is an orphan when its (source, cust_no) is not among the known customers of
its own system: the province's kept customer records (so the accounts of a customer set
aside are orphans too), and on a daily run the customers of the day's state plus those
deleted today (their accounts' own deletions may come in the same night). The rule is
written here once; `transform.conform.apply_account_rules` sets the orphans aside.

The initial load's cut (`transform.partition._owner_buckets`) answers the same question
from the cut's customer numbers, by hash search, because there it must also say which
bucket the customer is in and cannot hold a province's customer numbers in a hash table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
