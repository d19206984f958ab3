"""Small hand-made ProvinceBatch objects, following transform/schema.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.batch import FileCounts, ProvinceBatch, TableParts
from common.schema import (
    CUSTOMER_LINK,
    MERGED_CUSTOMER,
    REJECT,
    SCORED_ACCOUNT_EXTRA,
    SOURCE_ACCOUNT,
    SOURCE_CUSTOMER,
    conform,
)

DAY1 = date(2026, 11, 24)
DAY2 = date(2026, 11, 25)
FORMULA = "zj_personal@0123456789ab"


@dataclass
class Cust:
    """One merged customer: its identity, score, source records and accounts."""

    id_no: str
    score: str
    qualified: bool
    cust_type: str = "P"
    id_type: str = "01"
    name: str = "张三"
    sources: list[str] = field(default_factory=list)  # "RTL:R0001"; default one RTL record
    accounts: int = 2  # accounts per source record
    balance: str = "1000.00"

    @property
    def key(self) -> str:
        return f"{self.cust_type}|{self.id_type}|{self.id_no}"

    def records(self) -> list[tuple[str, str]]:
        found = [tuple(s.split(":", 1)) for s in self.sources] or [("RTL", f"R{self.id_no}")]
        return [(s, n) for s, n in found]


def make_batch(
    customers: list[Cust],
    *,
    province: str = "ZJ",
    business_date: date = DAY1,
    mode: str = "initial",
    rejects: int = 3,
) -> ProvinceBatch:
    merged, links, sources, accounts = [], [], [], []
    for c in customers:
        records = c.records()
        merged.append(
            {
                "cust_key": c.key,
                "cust_type": c.cust_type,
                "id_type": c.id_type,
                "id_no": c.id_no,
                "id_valid": True,
                "name": c.name,
                "master_source": records[0][0],
                "master_cust_no": records[0][1],
                "source_count": len(records),
                "score": Decimal(c.score),
                "qualified": c.qualified,
                "formula_id": FORMULA,
            }
        )
        for i, (source, cust_no) in enumerate(records):
            links.append(
                {"source": source, "cust_no": cust_no, "cust_key": c.key,
                 "role": "master" if i == 0 else "contact"}
            )  # fmt: skip
            sources.append(
                {
                    "source": source, "cust_no": cust_no, "cust_type": c.cust_type,
                    "name": c.name, "id_type": c.id_type, "id_no_raw": c.id_no,
                    "id_no": c.id_no, "id_valid": True, "mobile": f"138{c.id_no[-8:]}",
                    "phone": "0571-8888", "address": f"杭州市 {c.id_no}", "branch": province,
                    "file": f"{source}_CUST_{province}.dat", "line": len(sources) + 1,
                }
            )  # fmt: skip
            for n in range(c.accounts):
                balance = Decimal(c.balance)
                accounts.append(
                    {
                        "source": source, "acct_no": f"{cust_no}-A{n}", "cust_no": cust_no,
                        "kind": "DEMAND", "currency": "USD" if n else "CNY", "status": "N",
                        "balance": balance, "overdraft": Decimal(0), "term_months": 0,
                        "overdue_balance": Decimal(0), "overdue_periods": 0,
                        "open_date": date(2020, 1, 2), "branch": province,
                        "file": f"{source}_ACCT_{province}.dat", "line": len(accounts) + 1,
                        "cust_key": c.key, "cust_type": c.cust_type,
                        "balance_cny": balance * (Decimal("712.3456") if n else 100) / 100,
                        "overdraft_cny": Decimal(0), "overdue_balance_cny": Decimal(0),
                        "in_scope": True,
                    }
                )  # fmt: skip
    score_fields = [
        pa.field("score", pa.decimal128(20, 2)),
        pa.field("qualified", pa.bool_()),
        pa.field("formula_id", pa.string()),
    ]
    customer_schema = pa.schema([*MERGED_CUSTOMER, *score_fields])
    account_schema = pa.schema(
        [*SOURCE_ACCOUNT, *SCORED_ACCOUNT_EXTRA, pa.field("in_scope", pa.bool_())]
    )
    reject_rows = [
        {"file": f"RTL_ACCT_{province}.dat", "line": 100 + i, "raw": f"bad line {i} 坏",
         "reason": "bad amount", "field": "balance", "branch": province}
        for i in range(rejects)
    ]  # fmt: skip
    return ProvinceBatch(
        business_date=business_date,
        province=province,
        mode=mode,
        customers=pa.Table.from_pylist(merged, schema=customer_schema),
        links=pa.Table.from_pylist(links, schema=CUSTOMER_LINK),
        source_customers=conform(
            pa.Table.from_pylist(sources, schema=SOURCE_CUSTOMER), SOURCE_CUSTOMER
        ),
        accounts=pa.Table.from_pylist(accounts, schema=account_schema),
        rejects=pa.Table.from_pylist(reject_rows, schema=REJECT),
        files=[
            FileCounts(
                file=f"RTL_ACCT_{province}.dat",
                branch=province,
                system="RTL",
                entity="ACCT",
                read=len(accounts) + rejects,
                kept=len(accounts),
                set_aside=rejects,
                filtered=0,
            )
        ],  # fmt: skip
        formula_ids={"P": FORMULA},
    )


def people(n: int, *, qualified_every: int = 2, start: int = 0, accounts: int = 2) -> list[Cust]:
    """`n` persons with 18-character ids; every `qualified_every`-th one qualifies."""
    return [
        Cust(
            id_no=f"3301{i:014d}",
            score="600000.00" if i % qualified_every == 0 else "1000.00",
            qualified=i % qualified_every == 0,
            sources=[f"RTL:R{i:06d}", f"CRD:C{i:06d}"] if i % 3 == 0 else [],
            accounts=accounts,
        )
        for i in range(start, start + n)
    ]


def as_parts(
    batch: ProvinceBatch, directory: Path, parts: int, *, empty: int = -1
) -> ProvinceBatch:
    """The same batch with its four big tables as TableParts of `parts` Parquet parts each,
    as the bucketed initial load hands them: customer i (and its links, source records and
    accounts) in part (7 i) mod n, skipping part `empty` (left with no rows)."""
    assert isinstance(batch.customers, pa.Table) and isinstance(batch.links, pa.Table)
    assert isinstance(batch.source_customers, pa.Table) and isinstance(batch.accounts, pa.Table)
    usable = [p for p in range(parts) if p != empty]
    keys = batch.customers.column("cust_key")
    part_of_key = {k: usable[(7 * i) % len(usable)] for i, k in enumerate(keys.to_pylist())}
    link_keys = batch.links.column("cust_key").to_pylist()
    records = zip(batch.links.column("source").to_pylist(),
                  batch.links.column("cust_no").to_pylist(), strict=True)  # fmt: skip
    part_of_record = {r: part_of_key[k] for r, k in zip(records, link_keys, strict=True)}

    def split(name: str, table: pa.Table, part_of_row: list[int]) -> TableParts:
        paths = []
        for p in range(parts):
            path = directory / f"{name}-{p:03d}.parquet"
            pq.write_table(table.filter(pa.array([q == p for q in part_of_row])), path)
            paths.append(path)
        return TableParts(tuple(paths), table.schema)

    directory.mkdir(parents=True, exist_ok=True)
    sources = batch.source_customers
    return replace(
        batch,
        customers=split("customers", batch.customers, [part_of_key[k] for k in keys.to_pylist()]),
        links=split("links", batch.links, [part_of_key[k] for k in link_keys]),
        source_customers=split(
            "source_customers",
            sources,
            [
                part_of_record[r]
                for r in zip(
                    sources.column("source").to_pylist(),
                    sources.column("cust_no").to_pylist(),
                    strict=True,
                )
            ],
        ),  # fmt: skip
        accounts=split(
            "accounts",
            batch.accounts,
            [part_of_key[k] for k in batch.accounts.column("cust_key").to_pylist()],
        ),
    )
