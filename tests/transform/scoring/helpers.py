"""Hand-built account and customer tables for scoring tests.

Each account is written as the few fields that matter; CNY equivalents are computed here
with Python Decimals (balance x rate / 100), independently of the pipeline's fx step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa

from common.schema import MERGED_CUSTOMER, SCORED_ACCOUNT_EXTRA, SOURCE_ACCOUNT

# CNY per 100 units, as FXR_RATE gives them.
RATES = {
    "CNY": Decimal("100"),
    "USD": Decimal("712.34"),
    "EUR": Decimal("780.12"),
    "HKD": Decimal("91.23"),
}


def cny(amount: str | Decimal, currency: str) -> Decimal:
    """CNY equivalent, exact."""
    return Decimal(amount) * RATES[currency] / Decimal(100)


def account(
    cust_key: str,
    source: str,
    kind: str,
    currency: str = "CNY",
    balance: str = "0.00",
    *,
    status: str = "N",
    term_months: int = 0,
    overdraft: str = "0.00",
    overdue_balance: str = "0.00",
    overdue_periods: int = 0,
    in_scope: bool = True,
    fund_code: str | None = None,
) -> dict[str, Any]:
    cust_type = cust_key.split("|")[0]
    return {
        "source": source,
        "acct_no": f"{source}-{cust_key}-{kind}-{currency}-{balance}-{term_months}",
        "cust_no": cust_key,
        "kind": kind,
        "currency": currency,
        "status": status,
        "balance": Decimal(balance),
        "overdraft": Decimal(overdraft),
        "credit_limit": None,
        "term_months": term_months,
        "overdue_balance": Decimal(overdue_balance),
        "overdue_periods": overdue_periods,
        "fund_code": fund_code,
        "branch_code": "330000001",
        "branch": "ZJ",
        "file": "test",
        "line": 1,
        "cust_key": cust_key,
        "cust_type": cust_type,
        "balance_cny": cny(balance, currency),
        "overdraft_cny": cny(overdraft, currency),
        "overdue_balance_cny": cny(overdue_balance, currency),
        "in_scope": in_scope,
    }


ACCOUNTS_SCHEMA = pa.schema(
    [*SOURCE_ACCOUNT, *SCORED_ACCOUNT_EXTRA, pa.field("in_scope", pa.bool_(), nullable=False)]
)


def accounts_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The scoring input table: SOURCE_ACCOUNT + cust_key, cust_type, CNY columns, in_scope."""
    columns = {f.name: [row.get(f.name) for row in rows] for f in ACCOUNTS_SCHEMA}
    return pa.table(
        {f.name: pa.array(columns[f.name], f.type) for f in ACCOUNTS_SCHEMA},
        schema=ACCOUNTS_SCHEMA,
    )


def customers_table(keys: list[str]) -> pa.Table:
    """MERGED_CUSTOMER rows for `keys` ("{type}|{id_type}|{id_no}")."""
    rows = [key.split("|") for key in keys]
    return pa.table(
        {
            "cust_key": keys,
            "cust_type": [r[0] for r in rows],
            "id_type": [r[1] for r in rows],
            "id_no": [r[2] for r in rows],
            "id_valid": [True] * len(keys),
            "name": [f"name {r[2]}" for r in rows],
            "master_source": ["RTL"] * len(keys),
            "master_cust_no": keys,
            "source_count": pa.array([1] * len(keys), pa.int32()),
        },
        schema=MERGED_CUSTOMER,
    )
