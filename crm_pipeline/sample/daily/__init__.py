"""Synthetic daily change files after an initial sample, with the state they lead to.

`write_daily(landing, d0, days, seed=..., full_out=...)` reads the initial sample written by
`crm-pipeline sample` for D0 (its files and manifest: the records the pipeline keeps are
the good lines), then writes business dates D1..Dn (consecutive calendar days) next to it,
laid out as core-dumps.md section 1 says: per branch `{SYS}_CUSTCHG`, `{SYS}_ACCTCHG` /
`FND_HOLDCHG` and `RTL_TXN` / `CRD_TXN`, each with its `.ok`, plus `FXR_RATE` per day.

The generator keeps the *truth*: every system's customer and account records as the core
systems hold them after each day. It only changes it through lines the pipeline must
apply, so the state after Dn is known; `full_out` receives the full dumps (`CUST`, `ACCT`,
`HOLD`, `FXR_RATE`) as of Dn, for the equivalence test (initial at D0 + daily D1..Dn must
equal an initial load at Dn). Retail balances are kept clear of the export filter (2%
above it, and rate moves are only made where no account would cross it), so the two
paths see the same retail accounts.

Each day and branch gets, per system: contact updates (`U`), new customers (`A`) with
their accounts in the same day's files, a customer sent with `U` although unknown (an
add), a deleted customer (`D`, with `D` of its accounts), a `D` of an unknown customer
(ignored), an identification number corrected to another customer's (CRD/LON), balance
changes (some large, so customers enter and leave the qualified set), closed accounts,
new accounts, `U`/`D` of unknown accounts, an orphan account, and bad lines of every kind
the initial sample has (byte length or field count, undecodable bytes, bad dates, amounts,
whole numbers and codes, including an action code other than A/U/D, and a duplicate
key), built from records the day does not otherwise touch so that setting them aside
changes nothing. `TXN` lines record each retail or card balance change (credit or debit,
with the balance after), so a statement reconciles.

A manifest `{D}/daily_manifest.json` lists each file's records, set-aside lines, ignored
`D`s and applied changes.

Modules: ``truth`` (what the systems hold, read back from the initial sample), ``state``
(one branch's day being built), ``customer_changes``, ``account_changes``,
``transactions`` and ``bad_lines`` (what a day changes), ``maker`` (in which order),
``days`` (dates, rates, files and manifests), ``full_dumps`` (the truth as full dumps).
"""

from __future__ import annotations

from crm_pipeline.sample.daily.days import move_rates, write_daily, write_day
from crm_pipeline.sample.daily.full_dumps import write_full
from crm_pipeline.sample.daily.maker import DayMaker
from crm_pipeline.sample.daily.truth import Branch, read_initial
from crm_pipeline.sample.fx import rate_units

__all__ = [
    "Branch",
    "DayMaker",
    "move_rates",
    "rate_units",
    "read_initial",
    "write_daily",
    "write_day",
    "write_full",
]
