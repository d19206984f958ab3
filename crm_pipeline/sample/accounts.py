"""The accounts of each system's customers: deposits, cards, loans and fund holdings.

Each builder spreads its owners' wealth over a few accounts and returns the account
table with, for every account, the row of its owner in the customer table (so that
orphans and the export filter can be placed precisely). Amounts are integers of the
account's currency (:class:`~crm_pipeline.sample.columns.Num`), converted from the
drawn CNY wealth at the day's rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from crm_pipeline.sample.columns import Dates, IntArray, Num, Table
from crm_pipeline.sample.dates import add_months, random_dates
from crm_pipeline.sample.fx import to_units
from crm_pipeline.sample.naming import acct_no_format, branch_codes, seq_codes
from crm_pipeline.sample.pools import BASE_RATES


@dataclass(frozen=True)
class Owners:
    """The customers of one system at one branch that accounts are built for."""

    cust: Table  # their customer records
    wealth: npt.NDArray[np.float64]  # CNY each keeps in this system
    branch: str
    business_date: date
    rates: dict[str, int]

    def cust_no(self, owner: IntArray) -> np.ndarray:
        """The customer number of each account's owner."""
        return np.asarray(self.cust["cust_no"])[owner]


@dataclass(frozen=True)
class Accounts:
    """An account table and, for each account, the row of its owner in the customer table."""

    table: Table
    owner: IntArray


def _spread(
    rng: np.random.Generator, n: int, sizes: Sequence[int], p: Sequence[float]
) -> tuple[IntArray, IntArray]:
    """How many accounts each of ``n`` owners holds, and the owner of each account."""
    counts = rng.choice(sizes, n, p=p)
    return counts, np.repeat(np.arange(n), counts)


def _numbers(system: str, branch: str, m: int) -> np.ndarray:
    prefix, digits = acct_no_format(system, branch)
    return seq_codes(prefix, np.arange(1, m + 1, dtype=np.int64), digits)


def _split(
    rng: np.random.Generator, total: npt.NDArray[np.float64], counts: IntArray
) -> npt.NDArray[np.float64]:
    """Split each owner's ``total`` over its ``counts`` accounts at random (Dirichlet(1))."""
    owner = np.repeat(np.arange(len(counts)), counts)
    w = rng.exponential(1.0, len(owner))
    sums = np.bincount(owner, weights=w, minlength=len(counts))
    return total[owner] * w / sums[owner]


def _currencies(rng: np.random.Generator, n: int, share_fx: float) -> npt.NDArray[np.str_]:
    fx = np.array(sorted(BASE_RATES), dtype="U3")
    weights = np.array([8.0 if c in ("USD", "HKD", "EUR") else 1.0 for c in fx])
    picks = fx[rng.choice(len(fx), n, p=weights / weights.sum())]
    return np.where(rng.random(n) < share_fx, picks, "CNY")


def _status(rng: np.random.Generator, n: int) -> npt.NDArray[np.str_]:
    r = rng.random(n)
    return np.where(r < 0.90, "N", np.where(r < 0.95, "F", "C"))


def rtl_accounts(rng: np.random.Generator, owners: Owners) -> Accounts:
    """Demand (D) and time (T) deposits: the wealth split over 1-4 accounts, plus small
    accounts that mostly fall under the export filter."""
    n = len(owners.wealth)
    big = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.15, 0.1])
    small = (rng.random(n) < 0.5).astype(np.int64)
    counts = big + small
    owner = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    is_small = (np.arange(len(owner)) - first[owner]) >= big[owner]
    cny = _split(rng, owners.wealth, big.astype(np.int64))
    balance_cny = np.empty(len(owner))
    balance_cny[~is_small] = cny
    balance_cny[is_small] = rng.uniform(10, 60_000, int(is_small.sum()))
    m = len(owner)
    currency = _currencies(rng, m, 0.15)
    product = np.where(rng.random(m) < 0.4, "T", "D")
    term = np.where(product == "T", rng.choice([3, 6, 12, 24, 36, 60], m), 0)
    opened = random_dates(rng, m, date(2010, 1, 1), owners.business_date)
    maturity = np.where(product == "T", add_months(opened, term), 0)
    table: Table = {
        "acct_no": _numbers("RTL", owners.branch, m),
        "cust_no": owners.cust_no(owner),
        "product": product,
        "currency": currency,
        "balance": Num(to_units(balance_cny, currency, owners.rates), 2),
        "term_months": Num(term.astype(np.int64)),
        "open_date": Dates(opened),
        "maturity_date": Dates(maturity),
        "status": _status(rng, m),
        "branch_code": branch_codes(rng, owners.branch, m),
    }
    return Accounts(table, owner)


def crd_accounts(rng: np.random.Generator, owners: Owners) -> Accounts:
    """Cards: 1-2 each; a deposit on some, an overdraft on many, a credit limit on all."""
    counts, owner = _spread(rng, len(owners.wealth), [1, 2], [0.7, 0.3])
    m = len(owner)
    currency = _currencies(rng, m, 0.08)
    deposit_cny = np.where(rng.random(m) < 0.3, _split(rng, owners.wealth * 0.05, counts), 0.0)
    limit = rng.choice([10_000, 20_000, 50_000, 100_000, 200_000], m) * 100
    overdraft = np.where(rng.random(m) < 0.6, (limit * rng.uniform(0, 0.8, m)).astype(np.int64), 0)
    table: Table = {
        "card_no": _numbers("CRD", owners.branch, m),
        "cust_no": owners.cust_no(owner),
        "currency": currency,
        "deposit_balance": Num(to_units(deposit_cny, currency, owners.rates), 2),
        "overdraft_amount": Num(overdraft.astype(np.int64), 2),
        "credit_limit": Num(limit.astype(np.int64), 2),
        "open_date": Dates(random_dates(rng, m, date(2012, 1, 1), owners.business_date)),
        "status": _status(rng, m),
        "branch_code": branch_codes(rng, owners.branch, m),
    }
    return Accounts(table, owner)


def lon_accounts(rng: np.random.Generator, owners: Owners) -> Accounts:
    """Consumer loans, one or two each; some overdue by a few instalments."""
    _, owner = _spread(rng, len(owners.wealth), [1, 2], [0.85, 0.15])
    m = len(owner)
    term = rng.choice([6, 12, 24, 36, 60], m)
    principal = (rng.uniform(5_000, 300_000, m) * 100).astype(np.int64)
    overdue = rng.random(m) < 0.12
    periods = np.where(overdue, rng.integers(1, 7, m), 0)
    overdue_balance = np.where(overdue, (principal / term * periods).astype(np.int64), 0)
    opened = random_dates(rng, m, date(2019, 1, 1), owners.business_date)
    currency = np.where(rng.random(m) < 0.02, "HKD", "CNY")
    table: Table = {
        "loan_no": _numbers("LON", owners.branch, m),
        "cust_no": owners.cust_no(owner),
        "currency": currency,
        "principal_balance": Num(principal, 2),
        "term_months": Num(term.astype(np.int64)),
        "overdue_balance": Num(overdue_balance.astype(np.int64), 2),
        "overdue_periods": Num(periods.astype(np.int64)),
        "open_date": Dates(opened),
        "maturity_date": Dates(add_months(opened, term)),
        "status": _status(rng, m),
        "branch_code": branch_codes(rng, owners.branch, m),
    }
    return Accounts(table, owner)


def fnd_holdings(rng: np.random.Generator, owners: Owners) -> Accounts:
    """Fund holdings, 1-3 each: ``market_value = round(shares x nav, 2)`` (half up)."""
    counts, owner = _spread(rng, len(owners.wealth), [1, 2, 3], [0.5, 0.3, 0.2])
    m = len(owner)
    currency = np.where(rng.random(m) < 0.05, "USD", "CNY")
    nav = rng.integers(5_000, 60_000, m).astype(np.int64)  # 0.5000 .. 6.0000
    value_cny = _split(rng, owners.wealth * 0.3, counts.astype(np.int64))
    value_units = to_units(value_cny, currency, owners.rates)  # fen of currency
    shares = np.maximum(value_units * 10_000 // nav, 100)  # 1/100 shares
    market_value = (shares * nav + 5_000) // 10_000  # fen, half up (all positive)
    fund_codes = np.array([f"{c:06d}" for c in rng.integers(1, 20_000, 200)], dtype="S6")
    table: Table = {
        "fund_acct": _numbers("FND", owners.branch, m),
        "cust_no": owners.cust_no(owner),
        "fund_code": fund_codes[rng.integers(0, len(fund_codes), m)],
        "shares": Num(shares, 2),
        "nav": Num(nav, 4),
        "market_value": Num(market_value, 2),
        "currency": currency,
        "branch_code": branch_codes(rng, owners.branch, m),
    }
    return Accounts(table, owner)


ACCOUNT_BUILDERS: dict[str, Callable[[np.random.Generator, Owners], Accounts]] = {
    "RTL": rtl_accounts,
    "CRD": crd_accounts,
    "LON": lon_accounts,
    "FND": fnd_holdings,
}
