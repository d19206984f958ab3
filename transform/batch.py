"""What the transform stage hands to the load stage for one (business date, province, mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa


@dataclass(frozen=True)
class FileCounts:
    """Reconciliation of one data file: read = kept + set_aside + filtered, always."""

    file: str
    branch: str
    system: str
    entity: str
    read: int
    kept: int
    set_aside: int
    filtered: int
    flagged: int = 0  # kept, but with an identification number failing its check

    def balanced(self) -> bool:
        counts = (self.read, self.kept, self.set_aside, self.filtered)
        return min(counts) >= 0 and self.read == self.kept + self.set_aside + self.filtered


@dataclass(frozen=True)
class ProvinceBatch:
    """Everything one province's load writes to the warehouse, as Arrow tables.

    customers: transform.schema.MERGED_CUSTOMER joined with CUSTOMER_SCORE (cust_key)
    links: CUSTOMER_LINK (every source record and its merged customer)
    source_customers: SOURCE_CUSTOMER (contact details per source record)
    accounts: SOURCE_ACCOUNT + cust_key, balance_cny (decimal128(38, 8)), in_scope (bool)
    rejects: REJECT
    """

    business_date: date
    province: str
    mode: str  # initial | daily
    customers: pa.Table
    links: pa.Table
    source_customers: pa.Table
    accounts: pa.Table
    rejects: pa.Table
    files: list[FileCounts] = field(default_factory=list)
    formula_ids: dict[str, str] = field(default_factory=dict)  # cust_type -> formula id
