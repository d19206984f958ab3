"""Arrow schemas of the tables the stages hand each other (staged as Parquet).

These are the contracts between `extract`, `transform` and `load`: a module that produces
one of these tables conforms to its schema (`conform(table, SCHEMA)`), a module that reads
one may rely on it. Money is `decimal128(20, 2)` (exact: never a binary float), NAV
`decimal128(20, 4)`, FX rates `decimal128(12, 4)`.
"""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(20, 2)
NAV = pa.decimal128(20, 4)
RATE = pa.decimal128(12, 4)

# Where a record came from: reporting branch (a province or a city), file and 1-based line.
_PROVENANCE = [
    pa.field("branch", pa.string(), nullable=False),
    pa.field("file", pa.string(), nullable=False),
    pa.field("line", pa.int64(), nullable=False),
]

# One source-system customer record, validated (codes checked, dates parsed) and with its
# identification number normalized. `id_no` is the matching key: the cleaned and converted
# number when its check character is right, the cleaned number otherwise (`id_valid`
# false: kept but flagged, matched only to the identical number).
SOURCE_CUSTOMER = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),  # RTL / CRD / LON / FND
        pa.field("cust_no", pa.string(), nullable=False),
        pa.field("cust_type", pa.string(), nullable=False),  # P / C
        pa.field("name", pa.string()),
        pa.field("id_type", pa.string(), nullable=False),  # canonical code, CRD letters mapped
        pa.field("id_no_raw", pa.string(), nullable=False),  # as sent
        pa.field("id_no", pa.string(), nullable=False),  # normalized
        pa.field("id_valid", pa.bool_(), nullable=False),
        pa.field("gender", pa.string()),
        pa.field("birth_date", pa.date32()),
        pa.field("mobile", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("address", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("open_date", pa.date32()),
        pa.field("branch_code", pa.string()),
        *_PROVENANCE,
    ]
)

# One account of any system, in one shape. `balance` is the system's own balance column
# (RTL balance, CRD deposit_balance, LON principal_balance, FND market_value), in
# `currency`; zero where a system has no such column.
SOURCE_ACCOUNT = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("acct_no", pa.string(), nullable=False),
        pa.field("cust_no", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # DEMAND TIME CARD LOAN FUND
        pa.field("currency", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # N F C (FND: N)
        pa.field("balance", MONEY, nullable=False),
        pa.field("overdraft", MONEY, nullable=False),  # CRD overdraft_amount
        pa.field("credit_limit", MONEY),  # CRD
        pa.field("term_months", pa.int32(), nullable=False),  # RTL time deposits, LON; else 0
        pa.field("overdue_balance", MONEY, nullable=False),  # LON
        pa.field("overdue_periods", pa.int32(), nullable=False),  # LON
        pa.field("open_date", pa.date32()),
        pa.field("maturity_date", pa.date32()),
        pa.field("fund_code", pa.string()),  # FND
        pa.field("shares", MONEY),  # FND
        pa.field("nav", NAV),  # FND
        pa.field("branch_code", pa.string()),
        *_PROVENANCE,
    ]
)

# FX rates of the business date: CNY per 100 units. CNY itself is added as 100.
FX_RATE = pa.schema(
    [
        pa.field("currency", pa.string(), nullable=False),
        pa.field("cny_per_100", RATE, nullable=False),
    ]
)

# A record set aside, with why. `raw` is the line as sent, decoded with the file's encoding
# (undecodable bytes shown as \xNN escapes).
REJECT = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("field", pa.string()),
        pa.field("branch", pa.string(), nullable=False),
    ]
)

# A source customer record linked to its merged customer. `cust_key` identifies the merged
# customer within the province: "{cust_type}|{id_type}|{id_no}" after org-code to
# credit-code resolution.
CUSTOMER_LINK = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("cust_no", pa.string(), nullable=False),
        pa.field("cust_key", pa.string(), nullable=False),
        pa.field("role", pa.string(), nullable=False),  # master / contact
    ]
)

# One merged customer (a CRM candidate) of a province, with its master record's details.
MERGED_CUSTOMER = pa.schema(
    [
        pa.field("cust_key", pa.string(), nullable=False),
        pa.field("cust_type", pa.string(), nullable=False),
        pa.field("id_type", pa.string(), nullable=False),
        pa.field("id_no", pa.string(), nullable=False),
        pa.field("id_valid", pa.bool_(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("master_source", pa.string(), nullable=False),
        pa.field("master_cust_no", pa.string(), nullable=False),
        pa.field("source_count", pa.int32(), nullable=False),
    ]
)

# The account table the scoring formulas see: SOURCE_ACCOUNT joined to its merged
# customer, with CNY equivalents at the business date's rates (exact, no rounding:
# balance x cny_per_100 / 100 fits decimal128(38, 8)), and whether the account is in scope
# (RTL accounts under the province's export filter are not).
SCORED_ACCOUNT_EXTRA = [
    pa.field("cust_key", pa.string(), nullable=False),
    pa.field("cust_type", pa.string(), nullable=False),
    pa.field("balance_cny", pa.decimal128(38, 8), nullable=False),
    pa.field("overdraft_cny", pa.decimal128(38, 8), nullable=False),
    pa.field("overdue_balance_cny", pa.decimal128(38, 8), nullable=False),
]

# The score of each merged customer under the province's formula.
CUSTOMER_SCORE = pa.schema(
    [
        pa.field("cust_key", pa.string(), nullable=False),
        pa.field("score", MONEY, nullable=False),  # rounded half away from zero to the fen
        pa.field("qualified", pa.bool_(), nullable=False),  # score >= threshold
        pa.field("formula_id", pa.string(), nullable=False),  # "{name}@{sha256[:12]}"
    ]
)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, in order, cast to its types."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()
