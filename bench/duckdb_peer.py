"""The peer a data engineer would reach for: DuckDB doing the same parse, merge and score.

A faithful-enough SQL version of the initial load of one province (its files and its city
branches' files), with no Python on the data path:

- transcode: DuckDB reads UTF-8 only (its `encodings` extension, which knows GB18030,
  must be downloaded; this machine has no network), so, as a data engineer would, the
  GB18030 files go through `iconv` first, two at a time (both cores): delimited files
  GB18030 -> UTF-8 (`-c`: undecodable bytes dropped), fixed-width files LATIN1 -> UTF-8,
  which maps every byte to one character, so that `substr` still slices by bytes;
- parse: `read_csv` with `delim '|'` for the delimited files and one column per line for
  the fixed-width ones, sliced with `substr` (one character per byte of the file);
  lines with the wrong field count or byte length are skipped;
- validate: codes in their sets, amounts `TRY_CAST` to `DECIMAL(38, x)`, dates
  `try_strptime`; records failing any of them are left out;
- the file and cross-file rules: duplicate keys within a file (every copy out), a key sent
  by two branch files kept at its first file (province first), orphans, rate-less accounts,
  the RTL export filter on the exact CNY equivalent;
- identification numbers: trim, spaces, upper case, '-' of organization codes; the GB
  11643 check of resident ids and the 15 -> 18 conversion; an organization code joins
  the credit code embedding it (when exactly one does);
- merge: key `cust_type|id_type|id_no` (records without a number stand alone), master by
  source priority then customer number;
- score: the reference formulas (12 aggregates as `SUM(CASE ...)` over
  `DECIMAL(38, 8)` CNY equivalents, closed accounts out), thresholds, rounded to the fen.
  DuckDB turns a decimal quotient into a DOUBLE; the quotients (x / 12, / 1.5, / 1.2,
  / term_months) are cast back to DECIMAL(38, 10), so this peer is exact except there.

Not done (the pipeline does them, the peer does not): reject records with raw lines and
reasons, reconciliation counts, the organization/credit code check characters, full-width
character folding, the warehouse load. So the peer is a lower bound for "parse, merge and
score", not for the whole initial load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.support.peer_parse import file_selects, sql_string, transcode

PRIORITY = {"RTL": 0, "CRD": 1, "LON": 2, "FND": 3}


@dataclass
class PeerResult:
    seconds: float
    steps: dict[str, float]
    customers: int
    accounts: int
    merged: int
    qualified: int


def run_peer(
    files: list[tuple[str, str, Path]],
    fx_path: Path,
    export_filter: str,
    thresholds: dict[str, str],
    fund_coef: str,
    threads: int = 2,
    temp_dir: Path | None = None,
) -> PeerResult:
    """files: (branch, layout name, path), province first; returns counts and timings."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    if temp_dir is not None:
        con.execute(f"SET temp_directory={sql_string(temp_dir)}")
    con.execute("SET preserve_insertion_order=false")
    steps: dict[str, float] = {}
    started = time.perf_counter()

    def timed(step: str, sql: str) -> None:
        t = time.perf_counter()
        con.execute(sql)
        steps[step] = steps.get(step, 0.0) + time.perf_counter() - t

    t = time.perf_counter()
    utf8 = transcode(files, (temp_dir or Path(".")) / "utf8")
    steps["transcode (iconv)"] = time.perf_counter() - t

    # --- parse + type + validate, per file ----------------------------------------------
    cust_parts, acct_parts = file_selects(files, utf8)
    timed("parse", "CREATE TEMP TABLE cust_raw AS " + " UNION ALL ".join(cust_parts))
    timed("parse", "CREATE TEMP TABLE acct_raw AS " + " UNION ALL ".join(acct_parts))
    timed(
        "parse",
        f"CREATE TEMP TABLE rates AS SELECT currency, TRY_CAST(rate AS DECIMAL(38, 4)) AS rate"
        f" FROM read_csv({sql_string(fx_path)}, delim='|', header=false,"
        " columns={'currency': 'VARCHAR', 'rate': 'VARCHAR', 'rate_date': 'VARCHAR'})"
        " UNION ALL SELECT 'CNY', 100.0000",
    )

    # --- file rules, ids, merge -----------------------------------------------------------
    dedupe = """
        SELECT * EXCLUDE (n_in_file, first_file) FROM (
          SELECT *, count(*) OVER (PARTITION BY file_order, source, {key}) AS n_in_file,
                 min(file_order) OVER (PARTITION BY source, {key}) AS first_file
          FROM {table}) WHERE n_in_file = 1 AND file_order = first_file"""
    timed(
        "merge",
        "CREATE TEMP TABLE cust AS SELECT *,"
        " CASE WHEN id_type = '21' THEN replace(c0, '-', '') ELSE c0 END AS id_clean"
        " FROM (SELECT *, upper(replace(replace(trim(id_no_raw), ' ', ''), '\u3000', '')) AS c0"
        f" FROM ({dedupe.format(key='cust_no', table='cust_raw')}))",
    )
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

    def check_char(body: str) -> str:
        total = " + ".join(
            f"(ascii(substr({body}, {i + 1}, 1)) - 48) * {wt}" for i, wt in enumerate(w)
        )
        return f"substr('10X98765432', (({total}) % 11) + 1, 1)"

    conv = "substr(id_clean, 1, 6) || '19' || substr(id_clean, 7, 9)"
    timed(
        "merge",
        "CREATE TEMP TABLE ids AS SELECT *, CASE"
        " WHEN id_type = '01' AND length(id_clean) = 15 AND regexp_full_match(id_clean, '[0-9]{15}')"
        f" THEN {conv} || {check_char(conv)}"
        " ELSE id_clean END AS id_no,"
        " CASE WHEN id_clean = '' THEN false"
        " WHEN id_type = '01' AND length(id_clean) = 15"
        " THEN regexp_full_match(id_clean, '[0-9]{15}')"
        " WHEN id_type = '01' THEN length(id_clean) = 18"
        " AND regexp_full_match(id_clean, '[0-9]{17}[0-9X]')"
        f" AND substr(id_clean, 18, 1) = {check_char('id_clean')}"
        " WHEN id_type = '21' THEN length(id_clean) = 9"
        " WHEN id_type = '23' THEN length(id_clean) = 18 ELSE true END AS id_valid FROM cust",
    )
    timed(
        "merge",
        "CREATE TEMP TABLE org2credit AS SELECT cust_type, substr(id_no, 9, 9) AS org,"
        " min(id_no) AS credit FROM (SELECT DISTINCT cust_type, id_no FROM ids"
        " WHERE id_type = '23' AND id_valid) GROUP BY ALL HAVING count(*) = 1",
    )
    priority = "CASE source " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in PRIORITY.items())
    timed(
        "merge",
        "CREATE TEMP TABLE links AS SELECT i.source, i.cust_no, i.cust_type, i.name,"
        " CASE WHEN i.id_no = '' THEN i.cust_type || '|' || i.id_type || '|(no id) '"
        " || i.source || ' ' || i.cust_no"
        " WHEN o.credit IS NOT NULL THEN i.cust_type || '|23|' || o.credit"
        " ELSE i.cust_type || '|' || i.id_type || '|' || i.id_no END AS cust_key,"
        f" {priority} END AS prio,"
        " TRY_CAST(i.cust_no AS HUGEINT) AS num_no"
        " FROM ids i LEFT JOIN org2credit o ON i.id_type = '21' AND i.id_valid"
        " AND o.cust_type = i.cust_type AND o.org = i.id_no",
    )
    timed(
        "merge",
        "CREATE TEMP TABLE merged AS SELECT cust_key,"
        " arg_min(cust_type, (prio, num_no IS NULL, num_no, cust_no)) AS cust_type,"
        " arg_min(name, (prio, num_no IS NULL, num_no, cust_no)) AS name,"
        " arg_min(source, (prio, num_no IS NULL, num_no, cust_no)) AS master_source,"
        " arg_min(cust_no, (prio, num_no IS NULL, num_no, cust_no)) AS master_cust_no,"
        " count(*) AS source_count FROM links GROUP BY cust_key",
    )

    # --- accounts: rules, CNY, filter, score ----------------------------------------------
    timed(
        "score",
        "CREATE TEMP TABLE acct AS SELECT a.*, l.cust_key, l.cust_type,"
        " CAST(a.balance * r.rate / 100 AS DECIMAL(38, 8)) AS balance_cny,"
        " CAST(a.overdraft * r.rate / 100 AS DECIMAL(38, 8)) AS overdraft_cny,"
        " CAST(a.overdue_balance * r.rate / 100 AS DECIMAL(38, 8)) AS overdue_cny"
        f" FROM ({dedupe.format(key='acct_no', table='acct_raw')}) a"
        " JOIN links l ON l.source = a.source AND l.cust_no = a.cust_no"
        " JOIN rates r ON r.currency = a.currency"
        f" WHERE NOT (a.source = 'RTL' AND a.balance * r.rate / 100 < {export_filter})",
    )

    def agg(expr: str, where: str) -> str:
        return f"coalesce(sum(CASE WHEN {where} THEN {expr} END), 0)"

    rtl = "source = 'RTL'"
    aggs = {
        "demand_cny": agg("balance_cny", f"{rtl} AND kind = 'DEMAND' AND currency = 'CNY'"),
        "demand_fx": agg("balance_cny", f"{rtl} AND kind = 'DEMAND' AND currency <> 'CNY'"),
        "time_cny": agg("balance_cny", f"{rtl} AND kind = 'TIME' AND currency = 'CNY'"),
        "time_fx": agg("balance_cny", f"{rtl} AND kind = 'TIME' AND currency <> 'CNY'"),
        "time_cny_term": agg(
            "balance_cny * term_months", f"{rtl} AND kind = 'TIME' AND currency = 'CNY'"
        ),
        "time_fx_term": agg(
            "balance_cny * term_months", f"{rtl} AND kind = 'TIME' AND currency <> 'CNY'"
        ),
        "card_deposit_cny": agg("balance_cny", "kind = 'CARD' AND currency = 'CNY'"),
        "card_deposit_fx": agg("balance_cny", "kind = 'CARD' AND currency <> 'CNY'"),
        "card_overdraft": agg("overdraft_cny", "kind = 'CARD'"),
        "loan_per_term": agg(
            "CAST(balance_cny / term_months AS DECIMAL(38, 10))",
            "kind = 'LOAN' AND term_months > 0",
        ),
        "loan_overdue_weighted": agg("overdue_cny * overdue_periods", "kind = 'LOAN'"),
        "fund_value": agg("balance_cny", "kind = 'FUND'"),
    }
    timed(
        "score",
        "CREATE TEMP TABLE sums AS SELECT cust_key, "
        + ", ".join(f"{v} AS {k}" for k, v in aggs.items())
        + " FROM acct WHERE status <> 'C' GROUP BY cust_key",
    )

    def d(expr: str) -> str:
        return f"CAST({expr} AS DECIMAL(38, 10))"

    person = (
        "demand_cny + 1.5 * demand_fx + time_cny"
        f" + {d(d('time_cny_term / 12') + ' / 1.5')} + {d(d('time_fx_term / 12') + ' / 1.2')}"
        " + 1.1 * card_deposit_cny + 1.3 * card_deposit_fx - card_overdraft"
        " + 1.2 * loan_per_term + loan_overdue_weighted"
        f" + {fund_coef} * fund_value"
    )
    company = (
        "demand_cny + demand_fx + time_cny + time_fx"
        " + card_deposit_cny + card_deposit_fx - card_overdraft + fund_value"
    )
    timed(
        "score",
        "CREATE TEMP TABLE scores AS SELECT m.cust_key, m.cust_type, round(CASE m.cust_type"
        f" WHEN 'P' THEN {person} ELSE {company} END, 2) AS score"
        " FROM merged m LEFT JOIN (SELECT * REPLACE ("
        + ", ".join(f"coalesce({k}, 0) AS {k}" for k in aggs)
        + ") FROM sums) s USING (cust_key)",
    )
    timed(
        "score",
        "CREATE TEMP TABLE qualified AS SELECT * FROM scores WHERE"
        f" (cust_type = 'P' AND coalesce(score, 0) >= {thresholds['P']})"
        f" OR (cust_type = 'C' AND coalesce(score, 0) >= {thresholds['C']})",
    )
    seconds = time.perf_counter() - started

    def count(table: str) -> int:
        row: Any = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0])

    result = PeerResult(
        seconds,
        steps,
        customers=count("cust"),
        accounts=count("acct"),
        merged=count("merged"),
        qualified=count("qualified"),
    )
    con.close()
    return result
