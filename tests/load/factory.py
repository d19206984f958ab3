"""Small hand-made ProvinceBatch objects, following transform/schema.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pyarrow as pa

from transform.batch import FileCounts, ProvinceBatch
from transform.schema import (
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
