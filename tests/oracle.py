"""A plain, per-record reference implementation of the specification, for tests only.

Written from ../shared/spec/core-dumps.md, crm-import.md and reference-formulas.md (and
the choices of docs/decisions.md), deliberately without the pipeline's code: no
``transform``, no ``load``, no Arrow. Only the layouts and the province map come from
``common.config`` (they are data, the contract's tables). Every record is handled by
ordinary Python, every amount is an exact ``Decimal`` or ``Fraction``, so that a test can
compare the pipeline's vectorized result with an independent reading of the same files.

Entry points:

- ``read_rates(landing, day)``: the date's FX rates, CNY per 100 units (CNY is 100);
- ``flag_for(path, layout)``: the `.ok` a data file should have (bytes, lines, control sum);
- ``normalize_id(id_type, number)`` and the GB 11643 / 11714 / 32100 check characters;
- ``run_province(landing, day, province)``: a province's initial load as the spec defines
  it: per file counts and set-aside lines, source customers, kept accounts, merged
  customers with their master record, score (rounded to the fen) and qualification.

Set-aside reasons use the sample manifest's categories (``field_count``, ``byte_length``,
``decode``, ``date``, ``amount``, ``int``, ``code``, ``duplicate_key``, ``orphan``) plus
``line_end``, ``required``, ``cross_branch`` and ``no_rate`` for rules the generator does
not exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from common.config import layouts, provinces  # noqa: F401 - oracle.layouts() is used
from tests.oracle_ids import (  # noqa: F401 - the oracle's entry points
    GB11643_CHECK,
    GB11714_WEIGHTS,
    GB32100_CHARS,
    clean_id,
    credit_code_check,
    credit_code_ok,
    id_card_check,
    id_card_ok,
    normalize_id,
    org_code_check,
    org_code_ok,
)
from tests.oracle_spec import (  # noqa: F401
    ACCOUNT_ENTITY,
    CRD_ID_TYPES,
    EXACT,
    FUND_COEF,
    PROVINCE_VALUES,
    SYSTEMS,
    FileResult,
    Line,
    SetAside,
    amount_pattern,
    control_value,
    exact_cny,
    flag_for,
    parse_date,
    province_values,
    raw_fields,
    read_file,
    read_rates,
    split_lines,
    typed_record,
)

# --- customers, accounts, merge, score --------------------------------------------------


@dataclass
class SourceCustomer:
    source: str
    branch: str
    file: str
    line: int
    cust_no: str
    cust_type: str
    name: str
    id_type: str  # canonical
    id_no_raw: str
    id_no: str  # normalized
    id_valid: bool


@dataclass
class Account:
    source: str
    branch: str
    file: str
    line: int
    acct_no: str
    cust_no: str
    kind: str  # DEMAND TIME CARD LOAN FUND
    currency: str
    balance: Decimal
    balance_cny: Decimal  # exact
    status: str
    term_months: int = 0
    overdraft: Decimal = Decimal("0.00")
    overdue_balance: Decimal = Decimal("0.00")
    overdue_periods: int = 0
    rate: Decimal = Decimal(100)

    def cny(self, amount: Decimal) -> Decimal:
        return exact_cny(amount, self.rate)


@dataclass
class MergedCustomer:
    cust_type: str
    id_type: str
    id_no: str
    members: list[SourceCustomer]
    master: SourceCustomer
    accounts: list[Account] = field(default_factory=list)
    score: Decimal = Decimal("0.00")
    qualified: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.cust_type, self.id_type, self.id_no)

    @property
    def master_source(self) -> str:
        return self.master.source

    @property
    def master_cust_no(self) -> str:
        return self.master.cust_no


@dataclass
class ProvinceResult:
    province: str
    day: str
    files: list[FileResult]
    customers: list[SourceCustomer]
    accounts: list[Account]
    merged: list[MergedCustomer]

    @property
    def failed_files(self) -> list[FileResult]:
        return [f for f in self.files if not f.flag_ok]

    def file(self, name: str) -> FileResult:
        return next(f for f in self.files if f.name == name)

    def qualified(self) -> list[MergedCustomer]:
        return [m for m in self.merged if m.qualified]


def cust_no_order(cust_no: str) -> tuple[int, int, bytes]:
    """Within one system: digit-only numbers numerically (ties as strings), then the rest."""
    if re.fullmatch(r"[0-9]+", cust_no):
        return (0, int(cust_no), cust_no.encode())
    return (1, 0, cust_no.encode())


def master_of(members: list[SourceCustomer], priority: list[str]) -> SourceCustomer:
    def rank(c: SourceCustomer) -> tuple[int, tuple[int, int, bytes]]:
        pos = priority.index(c.source) if c.source in priority else len(priority)
        return (pos, cust_no_order(c.cust_no))

    return min(members, key=rank)


def merge(customers: list[SourceCustomer], priority: list[str]) -> list[MergedCustomer]:
    """Group by (cust_type, id_type, number); organization codes join their credit code."""
    credit_by_org: dict[tuple[str, str], set[str]] = {}
    for c in customers:
        if c.id_valid and c.id_type == "23":
            credit_by_org.setdefault((c.cust_type, c.id_no[8:17]), set()).add(c.id_no)
    groups: dict[tuple[str, str, str], list[SourceCustomer]] = {}
    for c in customers:
        if c.id_no == "":
            key = (c.cust_type, c.id_type, f"(no id) {c.source} {c.cust_no}")
        elif c.id_valid and c.id_type == "21":
            credits = credit_by_org.get((c.cust_type, c.id_no), set())
            key = (
                (c.cust_type, "23", next(iter(credits)))
                if len(credits) == 1
                else (c.cust_type, "21", c.id_no)
            )
        else:
            key = (c.cust_type, c.id_type, c.id_no)
        groups.setdefault(key, []).append(c)
    return [
        MergedCustomer(key[0], key[1], key[2], members, master_of(members, priority))
        for key, members in groups.items()
    ]


def round_fen(value: Fraction) -> Decimal:
    """Half away from zero, to two decimals, exactly."""
    sign = -1 if value < 0 else 1
    fen = int(abs(value) * 100 + Fraction(1, 2))  # floor of a non-negative number
    return Decimal(sign * fen) / 100


def score(customer: MergedCustomer, province: str) -> Fraction:
    """The reference formula of the customer's type over its non-closed accounts."""
    total = Fraction(0)
    personal = customer.cust_type == "P"
    coef = FUND_COEF.get(province, Fraction(2))
    for a in customer.accounts:
        if a.status == "C":
            continue
        bal = Fraction(a.balance_cny)
        fx = a.currency != "CNY"
        if a.kind == "DEMAND":
            total += bal * (Fraction(3, 2) if fx and personal else 1)
        elif a.kind == "TIME":
            if not personal:
                total += bal
            elif fx:  # time_fx_term / 1.2 (time_fx itself is not a personal term)
                total += bal * a.term_months / 12 / Fraction(6, 5)
            else:  # time_cny + time_cny_term / 1.5
                total += bal + bal * a.term_months / 12 / Fraction(3, 2)
        elif a.kind == "CARD":
            if personal:
                total += bal * (Fraction(13, 10) if fx else Fraction(11, 10))
            else:
                total += bal
            total -= Fraction(a.cny(a.overdraft))
        elif a.kind == "LOAN":
            if personal:
                if a.term_months > 0:
                    total += Fraction(6, 5) * bal / a.term_months
                total += Fraction(a.cny(a.overdue_balance)) * a.overdue_periods
        elif a.kind == "FUND":
            total += bal * (coef if personal else 1)
        else:
            raise AssertionError(a.kind)
    return total


def province_files(landing: Path, day: str, province: str) -> list[tuple[str, str, str, Path]]:
    """(branch, system, entity, path) of the province's initial-load files, province first."""
    out = []
    for branch in provinces().branches_of(province):
        folder = landing / day / branch
        if not folder.is_dir():
            continue
        for system in SYSTEMS:
            for entity in ("CUST", ACCOUNT_ENTITY[system]):
                out.append(
                    (branch, system, entity, folder / f"{system}_{entity}_{branch}_{day}.dat")
                )
    return out


def run_province(landing: Path, day: str, province: str) -> ProvinceResult:
    """A province's initial load, per the spec, one record at a time."""
    rates = read_rates(landing, day)
    files = [read_file(p, b, s, e) for b, s, e, p in province_files(landing, day, province)]
    _, _, export_filter = province_values(province)

    # Customers: the first occurrence of a customer number across the province's files.
    customers: list[SourceCustomer] = []
    seen: set[tuple[str, str]] = set()
    for f in files:
        if f.entity != "CUST":
            continue
        for line in f.lines:
            if line.set_aside:
                continue
            rec = line.record
            assert rec is not None
            cust_no = str(rec["cust_no"])
            if (f.system, cust_no) in seen:
                line.set_aside = "cross_branch"
                continue
            seen.add((f.system, cust_no))
            id_type = str(rec["id_type"])  # CRD letters already mapped by the code set
            number, valid = normalize_id(id_type, str(rec["id_no"]))
            if not valid:
                f.flagged += 1
            customers.append(
                SourceCustomer(
                    f.system,
                    f.branch,
                    f.name,
                    line.number,
                    cust_no,
                    str(rec["cust_type"]),
                    str(rec["name"]),
                    id_type,
                    str(rec["id_no"]),
                    number,
                    valid,
                )
            )
    known = {(c.source, c.cust_no) for c in customers}

    accounts: list[Account] = []
    seen = set()
    for f in files:
        if f.entity == "CUST":
            continue
        for line in f.lines:
            if line.set_aside:
                continue
            rec = line.record
            assert rec is not None
            acct_no = str(rec[f.layout.key[0]])
            if (f.system, acct_no) in seen:
                line.set_aside = "cross_branch"
                continue
            seen.add((f.system, acct_no))
            if (f.system, str(rec["cust_no"])) not in known:
                line.set_aside = "orphan"
                continue
            currency = str(rec["currency"])
            if currency not in rates:
                line.set_aside = "no_rate"
                continue
            account = _account(f, line, rec, rates[currency])
            if f.system == "RTL" and account.balance_cny < export_filter:
                line.filtered = True
                continue
            accounts.append(account)

    merged = merge(customers, list(provinces().source_priority))
    owner = {(c.source, c.cust_no): m for m in merged for c in m.members}
    for a in accounts:
        owner[(a.source, a.cust_no)].accounts.append(a)
    p_threshold, c_threshold, _ = province_values(province)
    for m in merged:
        m.score = round_fen(score(m, province))
        m.qualified = m.score >= (p_threshold if m.cust_type == "P" else c_threshold)
    return ProvinceResult(province, day, files, customers, accounts, merged)


def _account(f: FileResult, line: Line, rec: dict[str, object], rate: Decimal) -> Account:
    def money(name: str) -> Decimal:
        value = rec[name]
        assert isinstance(value, Decimal)
        return value

    def whole(name: str) -> int:
        value = rec[name]
        assert isinstance(value, int)
        return value

    balance_field = {"RTL": "balance", "CRD": "deposit_balance", "LON": "principal_balance"}
    balance = money(balance_field.get(f.system, "market_value"))
    # RTL's product code set maps D -> DEMAND and T -> TIME (config/layouts.yaml).
    kind = {"CRD": "CARD", "LON": "LOAN", "FND": "FUND"}.get(f.system) or str(rec["product"])
    assert kind in ("DEMAND", "TIME", "CARD", "LOAN", "FUND"), kind
    account = Account(
        source=f.system,
        branch=f.branch,
        file=f.name,
        line=line.number,
        acct_no=str(rec[f.layout.key[0]]),
        cust_no=str(rec["cust_no"]),
        kind=kind,
        currency=str(rec["currency"]),
        balance=balance,
        balance_cny=exact_cny(balance, rate),
        status=str(rec.get("status", "N")),
        rate=rate,
    )
    if f.system in ("RTL", "LON"):
        account.term_months = whole("term_months")
    if f.system == "CRD":
        account.overdraft = money("overdraft_amount")
    if f.system == "LON":
        account.overdue_balance = money("overdue_balance")
        account.overdue_periods = whole("overdue_periods")
    return account
