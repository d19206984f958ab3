"""The peer's parse: DuckDB SQL that reads, types and validates each dump file.

GB18030 files are transcoded to UTF-8 first (see bench/duckdb_peer.py); one SELECT per
file, customers and accounts apart, each row tagged with its file's order, branch and
source system.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CODES = {
    "cust_type": ["P", "C"],
    "id_type": ["01", "02", "03", "04", "05", "06", "07", "21", "22", "23", "99"],
    "status": ["N", "F", "C"],
    "currency": [
        "CNY", "USD", "EUR", "HKD", "JPY", "GBP", "AUD", "CAD", "CHF", "SGD",
        "NZD", "KRW", "MOP", "TWD", "THB", "RUB", "SEK", "NOK", "DKK",
    ],
}  # fmt: skip
CRD_LETTER = {
    "I": "01", "R": "02", "P": "03", "M": "04", "H": "05", "T": "06", "F": "07",
    "O": "21", "B": "22", "U": "23", "X": "99",
}  # fmt: skip

# Delimited layouts: field names in file order (core-dumps.md, config/layouts.yaml).
DELIMITED = {
    "CRD_CUST": "cust_no cust_type name id_type id_no gender birth_date mobile address"
    " postcode branch_code",
    "LON_CUST": "cust_no cust_type name id_type id_no gender birth_date mobile address"
    " postcode branch_code",
    "FND_CUST": "cust_no cust_type name id_type id_no mobile address branch_code",
    "CRD_ACCT": "acct_no cust_no currency balance overdraft credit_limit open_date status"
    " branch_code",
    "LON_ACCT": "acct_no cust_no currency balance term_months overdue_balance overdue_periods"
    " open_date maturity_date status branch_code",
    "FND_HOLD": "acct_no cust_no fund_code shares nav balance currency branch_code",
}
# Fixed-width layouts: (name, width in bytes).
FIXED = {
    "RTL_CUST": [
        ("cust_no", 16), ("cust_type", 1), ("name", 60), ("id_type", 2), ("id_no", 32),
        ("gender", 1), ("birth_date", 8), ("mobile", 15), ("phone", 20), ("address", 80),
        ("postcode", 6), ("open_date", 8), ("branch_code", 9),
    ],
    "RTL_ACCT": [
        ("acct_no", 22), ("cust_no", 16), ("product", 1), ("currency", 3), ("balance", 18),
        ("term_months", 3), ("open_date", 8), ("maturity_date", 8), ("status", 1),
        ("branch_code", 9),
    ],
}  # fmt: skip


def _q(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def sql_string(path: Path) -> str:
    """A path as an SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _read_delimited(path: Path, layout: str) -> str:
    names = DELIMITED[layout].split()
    cols = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    return (
        f"read_csv({sql_string(path)}, delim='|', header=false, quote='', escape='',"
        f" columns={cols}, ignore_errors=true, auto_detect=false,"
        " new_line='\\n')"
    )


def _read_fixed(path: Path, layout: str) -> str:
    fields = FIXED[layout]
    width = sum(w for _, w in fields)
    parts, pos = [], 1
    for name, w in fields:
        parts.append(f"substr(line, {pos}, {w}) AS {name}")
        pos += w
    # Lines split on CR LF (a line ending in LF only then runs into the next one and
    # fails the length check, as the pipeline sets it aside too).
    return (
        f"(SELECT {', '.join(parts)} FROM read_csv({sql_string(path)}, delim='\\x01', header=false,"
        f" quote='', escape='', columns={{'line': 'VARCHAR'}},"
        f" auto_detect=false, new_line='\\r\\n', strict_mode=false)"
        f" WHERE length(line) = {width})"
    )


GB18030 = ("RTL", "CRD", "LON")  # systems whose files are GB18030 (FND and FX: UTF-8)


def transcode(files: list[tuple[str, str, Path]], out: Path, jobs: int = 2) -> list[Path]:
    """UTF-8 copies of the GB18030 files (see the module docstring), `jobs` at a time."""
    out.mkdir(parents=True, exist_ok=True)
    result: list[Path] = []
    running: list[subprocess.Popen[bytes]] = []
    for branch, layout, path in files:
        if layout.split("_")[0] not in GB18030:
            result.append(path)
            continue
        target = out / f"{branch}_{layout}.utf8"
        source = "LATIN1" if layout in FIXED else "GB18030"
        while len(running) >= jobs:
            running.pop(0).wait()
        with target.open("wb") as sink:
            running.append(
                subprocess.Popen(
                    ["iconv", "-c", "-f", source, "-t", "UTF-8", str(path)], stdout=sink
                )
            )
        result.append(target)
    for proc in running:
        proc.wait()
    return result


def _date_ok(col: str) -> str:
    return f"(trim({col}) IN ('', '00000000') OR try_strptime(trim({col}), '%Y%m%d') IS NOT NULL)"


def _amount(col: str, scale: int = 2) -> str:
    return f"TRY_CAST(trim({col}) AS DECIMAL(38, {scale}))"


def _int(col: str) -> str:
    return f"TRY_CAST(trim({col}) AS INTEGER)"


CODE_SETS = {k: _q(v) for k, v in CODES.items()}
CRD_MAP = "CASE trim(id_type) " + " ".join(
    f"WHEN '{k}' THEN '{v}'" for k, v in CRD_LETTER.items()
) + " END"  # fmt: skip


def customer_select(file_tag: str, system: str, src: str) -> str:
    """The typed, valid customer records of one file."""
    codes = CODE_SETS
    crd_map = CRD_MAP
    id_type = crd_map if system == "CRD" else "trim(id_type)"
    gender_ok = "trim(gender) IN ('M', 'F', '')" if system != "FND" else "true"
    dates = (
        " AND ".join(_date_ok(c) for c in ("birth_date", "open_date"))
        if system == "RTL"
        else _date_ok("birth_date")
        if system != "FND"
        else "true"
    )
    return (
        f"SELECT {file_tag}, rtrim(cust_no) AS cust_no, trim(cust_type) AS cust_type,"
        f" rtrim(name) AS name, {id_type} AS id_type, rtrim(id_no) AS id_no_raw"
        f" FROM {src} WHERE trim(cust_type) IN {codes['cust_type']}"
        f" AND ({id_type}) IN {codes['id_type']} AND {gender_ok} AND {dates}"
        " AND rtrim(cust_no) <> '' AND rtrim(id_no) <> ''"
    )


def account_select(file_tag: str, system: str, src: str) -> str:
    """The typed, valid account records of one file, in the columns all systems share."""
    codes = CODE_SETS
    if system == "RTL":
        kind = "CASE trim(product) WHEN 'D' THEN 'DEMAND' WHEN 'T' THEN 'TIME' END"
        extra = (
            f"{_amount('balance')} AS balance, 0.00::DECIMAL(38,2) AS overdraft,"
            f" {_int('term_months')} AS term_months,"
            " 0.00::DECIMAL(38,2) AS overdue_balance, 0 AS overdue_periods"
        )
        valid = (
            f"trim(product) IN ('D', 'T') AND {_amount('balance')} IS NOT NULL"
            f" AND {_int('term_months')} IS NOT NULL AND {_date_ok('open_date')}"
            f" AND {_date_ok('maturity_date')} AND trim(status) IN {codes['status']}"
        )
    elif system == "CRD":
        kind = "'CARD'"
        extra = (
            f"{_amount('balance')} AS balance, {_amount('overdraft')} AS overdraft,"
            " 0 AS term_months, 0.00::DECIMAL(38,2) AS overdue_balance,"
            " 0 AS overdue_periods"
        )
        valid = (
            f"{_amount('balance')} IS NOT NULL AND {_amount('overdraft')} IS NOT NULL"
            f" AND {_amount('credit_limit')} IS NOT NULL AND {_date_ok('open_date')}"
            f" AND trim(status) IN {codes['status']}"
        )
    elif system == "LON":
        kind = "'LOAN'"
        extra = (
            f"{_amount('balance')} AS balance, 0.00::DECIMAL(38,2) AS overdraft,"
            f" {_int('term_months')} AS term_months,"
            f" {_amount('overdue_balance')} AS overdue_balance,"
            f" {_int('overdue_periods')} AS overdue_periods"
        )
        valid = (
            f"{_amount('balance')} IS NOT NULL AND {_int('term_months')} IS NOT NULL"
            f" AND {_amount('overdue_balance')} IS NOT NULL"
            f" AND {_int('overdue_periods')} IS NOT NULL AND {_date_ok('open_date')}"
            f" AND {_date_ok('maturity_date')} AND trim(status) IN {codes['status']}"
        )
    else:
        kind = "'FUND'"
        extra = (
            f"{_amount('balance')} AS balance, 0.00::DECIMAL(38,2) AS overdraft,"
            " 0 AS term_months, 0.00::DECIMAL(38,2) AS overdue_balance,"
            " 0 AS overdue_periods"
        )
        valid = (
            f"{_amount('balance')} IS NOT NULL AND {_amount('shares')} IS NOT NULL"
            f" AND {_amount('nav', 4)} IS NOT NULL"
        )
    status = "trim(status)" if system != "FND" else "'N'"
    return (
        f"SELECT {file_tag}, rtrim(acct_no) AS acct_no, rtrim(cust_no) AS cust_no,"
        f" {kind} AS kind, trim(currency) AS currency, {status} AS status, {extra}"
        f" FROM {src} WHERE {valid} AND trim(currency) IN {codes['currency']}"
        " AND rtrim(acct_no) <> '' AND rtrim(cust_no) <> ''"
    )


def file_selects(
    files: list[tuple[str, str, Path]], utf8: list[Path]
) -> tuple[list[str], list[str]]:
    """One SELECT per file (of its UTF-8 copy): customers' and accounts'."""
    cust_parts: list[str] = []
    acct_parts: list[str] = []
    for order, ((branch, layout, _), path) in enumerate(zip(files, utf8, strict=True)):
        system, entity = layout.split("_")
        src = _read_fixed(path, layout) if layout in FIXED else _read_delimited(path, layout)
        file_tag = f"{order} AS file_order, '{branch}' AS branch, '{system}' AS source"
        if entity == "CUST":
            cust_parts.append(customer_select(file_tag, system, src))
        else:
            acct_parts.append(account_select(file_tag, system, src))
    return cust_parts, acct_parts
