"""Record builders: the people and companies of a branch, and their records per system.

Builders return tables of fields (:mod:`crm_pipeline.sample.columns`) and know nothing of
encodings, widths or flag files; the writer does. A daily-change generator reuses them by
building tables for the changed keys and adding an ``action`` column.

The world of one branch is a set of *entities* (a person or a company with one true
identity); each system holds a customer record for some of them, with the identification
number keyed the way that system's counters type it. City branches (NB, SZ) share part of
their entities with their province (ZJ, GD), so the pipeline has cross-branch merges to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from crm_pipeline.sample import ids, pools
from crm_pipeline.sample.columns import Categorical, Dates, IntArray, Num, Table, take

SYSTEMS = ("RTL", "CRD", "LON", "FND")
# Canonical id type -> CRD letter (core-dumps.md section 6).
CRD_LETTER = {
    "01": "I",
    "02": "R",
    "03": "P",
    "04": "M",
    "05": "H",
    "06": "T",
    "07": "F",
    "21": "O",
    "22": "B",
    "23": "U",
    "99": "X",
}
# Two-digit numbers used inside card and loan numbers, so branches never collide.
BRANCH_NUMBER = {
    "ZJ": 11,
    "NB": 12,
    "WZ": 13,
    "JS": 21,
    "GD": 31,
    "SZ": 32,
    "SD": 41,
    "QD": 42,
    "BJ": 51,
}
# Share of entities holding a record in each system, for persons and companies.
PRESENCE = {
    "RTL": (0.85, 0.90),
    "CRD": (0.45, 0.20),
    "LON": (0.25, 0.0),  # personal consumer loans only
    "FND": (0.35, 0.25),
}


def branch_number(branch: str) -> int:
    return BRANCH_NUMBER.get(branch, 60 + sum(map(ord, branch)) % 40)


def seq_codes(prefix: str, numbers: IntArray, digits: int) -> npt.NDArray[np.bytes_]:
    """ASCII keys ``prefix`` + zero-padded ``numbers`` (customer and account numbers)."""
    n = len(numbers)
    p = prefix.encode("ascii")
    m = np.zeros((n, len(p) + digits), dtype=np.uint8)
    m[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    for j in range(digits):
        m[:, len(p) + digits - 1 - j] = 48 + (numbers // 10**j) % 10
    return np.ascontiguousarray(m).view(f"S{m.shape[1]}").ravel()


def days_to_yyyymmdd(days: IntArray) -> IntArray:
    """Days since 1970-01-01 to YYYYMMDD integers, vectorized."""
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year * 10000 + month * 100 + day


def add_months(yyyymmdd: IntArray, months: IntArray) -> IntArray:
    """A date plus whole months, the day clipped to 28 (maturity dates)."""
    year, rest = np.divmod(yyyymmdd, 10000)
    month, day = np.divmod(rest, 100)
    total = year * 12 + (month - 1) + months
    y, m = np.divmod(total, 12)
    return y * 10000 + (m + 1) * 100 + np.minimum(day, 28)


def epoch_days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def random_dates(rng: np.random.Generator, n: int, start: date, end: date) -> IntArray:
    return days_to_yyyymmdd(rng.integers(epoch_days(start), epoch_days(end), n))


@dataclass(frozen=True)
class Entities:
    """The true people and companies of one branch (one row each), before any system."""

    branch: str
    table: Table  # columns below, all of one length
    wealth: npt.NDArray[np.float64]  # CNY the entity keeps with the bank (drives scores)

    def __len__(self) -> int:
        return len(self.wealth)


def build_entities(
    rng: np.random.Generator, branch: str, n: int, business_date: date, wealth_scale: float
) -> Entities:
    """``n`` entities of ``branch``: 88% persons, 12% companies.

    Identity kinds: persons mostly hold an identity card (``01``), a few a passport or
    permit; companies mostly a credit code (``23``, which embeds their organization code),
    some only an organization code (``21``) or a business licence number (``22``).
    """
    places = pools.places_of(branch)
    company = rng.random(n) < 0.12
    person_pool = pools.person_names(rng, max(64, min(n, 50_000)))
    company_pool = pools.company_names(rng, max(16, min(n // 8 + 1, 5_000)), places)
    name_index = np.where(
        company,
        len(person_pool) + rng.integers(0, len(company_pool), n),
        rng.integers(0, len(person_pool), n),
    )
    # The first entities use the pool entries with rare characters and 60-byte names.
    head = min(n, 4)
    name_index[:head] = np.where(
        company[:head], len(person_pool) + 7, np.array([5, 6, 5, 6])[:head]
    )
    addr_pool, post_pool = pools.addresses(rng, max(32, min(n, 20_000)), places)
    addr_index = rng.integers(0, len(addr_pool), n)

    region = np.array([p.region for p in places])[rng.integers(0, len(places), n)]
    birth = random_dates(rng, n, date(1942, 1, 1), date(2005, 12, 31))
    seq = rng.integers(0, 1000, n)
    id_card = ids.identity_cards(region, birth, seq)
    org = ids.org_codes(rng.integers(10_000_000, 99_999_999, n))
    uscc = ids.credit_codes(org, region)
    licence = seq_codes(str(places[0].region), rng.integers(0, 10**9, n), 9)
    passport = seq_codes("E", rng.integers(0, 10**8, n), 8)

    r = rng.random(n)
    kind = np.where(
        company,
        np.where(r < 0.75, "23", np.where(r < 0.93, "21", "22")),
        np.where(r < 0.96, "01", np.where(r < 0.985, "03", "05")),
    )
    strong = np.where(
        kind == "01",
        id_card.astype(str),
        np.where(
            kind == "23",
            uscc.astype(str),
            np.where(
                kind == "21",
                org.astype(str),
                np.where(kind == "22", licence.astype(str), passport.astype(str)),
            ),
        ),
    )
    strong = np.where(kind == "05", np.char.add("H", np.char.ljust(strong, 9, "0")), strong)
    gender = np.where(company, "", np.where(seq % 2 == 1, "M", "F"))
    area = np.array([p.area for p in places])[rng.integers(0, len(places), n)]
    phone = np.char.add(np.char.add(area, "-"), rng.integers(8_000_000, 89_999_999, n).astype(str))
    mobile = seq_codes(
        "1",
        rng.choice([35, 36, 37, 38, 39, 50, 51, 58, 59, 86, 88, 89], n) * 10**8
        + rng.integers(0, 10**8, n),
        10,
    )
    median = np.where(company, 2_000_000.0, 200_000.0) * wealth_scale
    wealth = median * np.exp(rng.normal(0.0, 1.1, n))
    table: Table = {
        "cust_type": np.where(company, "C", "P"),
        "name": Categorical(np.concatenate([person_pool, company_pool]), name_index),
        "kind": kind,
        "strong_id": strong,  # identity card, credit code, org code, licence, passport
        "org_code": org.astype(str),  # companies with a credit code: the code it embeds
        "birth_year": birth // 10000,
        "gender": gender,
        "birth_date": Dates(np.where(company, 0, birth)),
        "mobile": mobile,
        "phone": phone,
        "address": Categorical(addr_pool, addr_index),
        "postcode": Categorical(post_pool, addr_index),
        "open_date": Dates(random_dates(rng, n, date(2003, 1, 1), business_date)),
        "region": region,
    }
    return Entities(branch, table, wealth)


def id_fields(
    rng: np.random.Generator, ent: Entities, rows: IntArray, system: str
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """Identification type and number of ``rows`` as ``system`` keys them.

    Variants (each on a few percent of records): legacy 15-digit card number, lower-case
    ``x``, full-width characters, an ASCII or ideographic space typed inside; companies
    with a credit code appear in some systems under their organization code instead.
    """
    t = ent.table
    kind = np.asarray(t["kind"])[rows]
    number = np.asarray(t["strong_id"])[rows].astype("U32")
    org = np.asarray(t["org_code"])[rows]
    birth_year = np.asarray(t["birth_year"])[rows]
    id_type = kind.astype("U2").copy()
    # Companies with a credit code: 35% of records carry the organization code (type 21).
    as_org = (kind == "23") & (rng.random(len(rows)) < 0.35)
    id_type[as_org] = "21"
    number[as_org] = org[as_org]
    org_rows = id_type == "21"
    dash = org_rows & (rng.random(len(rows)) < 0.8)
    number[dash] = [f"{s[:8]}-{s[8:]}" for s in number[dash]]
    r = rng.random(len(rows))
    cards = id_type == "01"
    legacy = cards & (r < 0.10) & (birth_year < 2000)
    number[legacy] = [ids.to_legacy15(s) for s in number[legacy]]
    lower = cards & (r >= 0.10) & (r < 0.16) & (np.char.endswith(number, "X"))
    number[lower] = np.char.lower(number[lower])
    wide = (r >= 0.16) & (r < 0.19)
    count = 6 if system == "RTL" else None  # 18 full-width characters overflow RTL's 32 bytes
    number[wide] = [ids.full_width(s, count) for s in number[wide]]
    spaced = (r >= 0.19) & (r < 0.22)
    spaces = np.where(rng.random(len(rows)) < 0.5, " ", "\u3000")
    number[spaced] = [
        ids.with_space(s, 6, sp) for s, sp in zip(number[spaced], spaces[spaced], strict=True)
    ]
    if system == "CRD":
        id_type = recode(id_type, CRD_LETTER)
    return id_type, number


def presence(rng: np.random.Generator, ent: Entities) -> dict[str, npt.NDArray[np.bool_]]:
    """Which entities hold a record in each system (everyone in at least one)."""
    company = np.asarray(ent.table["cust_type"]) == "C"
    n = len(ent)
    out = {
        sys: rng.random(n) < np.where(company, share_c, share_p)
        for sys, (share_p, share_c) in PRESENCE.items()
    }
    nowhere = ~np.logical_or.reduce(list(out.values()))
    out["RTL"] = out["RTL"] | nowhere
    return out


def customer_table(
    rng: np.random.Generator, ent: Entities, rows: IntArray, system: str, branch: str
) -> Table:
    """Customer records of ``rows`` in ``system``: the columns of ``{system}_CUST``."""
    t = ent.table
    n = len(rows)
    prefix = {"RTL": "", "CRD": "C", "LON": "L", "FND": "F"}[system] + branch
    cust_no = seq_codes(
        prefix,
        np.arange(1, n + 1, dtype=np.int64) + 10_000,
        16 - len(prefix) if system == "RTL" else 10,
    )
    id_type, id_no = id_fields(rng, ent, rows, system)
    name = t["name"]
    address = t["address"]
    postcode = t["postcode"]
    birth = t["birth_date"]
    opened = t["open_date"]
    assert isinstance(name, Categorical) and isinstance(address, Categorical)
    assert isinstance(postcode, Categorical) and isinstance(birth, Dates)
    assert isinstance(opened, Dates)
    branch_code = _subbranch(rng, branch, n)
    return {
        "cust_no": cust_no,
        "cust_type": np.asarray(t["cust_type"])[rows],
        "name": take(name, rows),
        "id_type": id_type,
        "id_no": id_no,
        "gender": np.asarray(t["gender"])[rows],
        "birth_date": Dates(birth.values[rows]),
        "mobile": np.asarray(t["mobile"])[rows],
        "phone": np.asarray(t["phone"])[rows],
        "address": take(address, rows),
        "postcode": take(postcode, rows),
        "open_date": Dates(opened.values[rows]),
        "branch_code": branch_code,
    }


@dataclass(frozen=True)
class Accounts:
    """An account table and, for each account, the row of its owner in the customer table."""

    table: Table
    owner: IntArray


def _split(
    rng: np.random.Generator, total: npt.NDArray[np.float64], counts: IntArray
) -> npt.NDArray[np.float64]:
    """Split each owner's ``total`` over its ``counts`` accounts at random (Dirichlet(1))."""
    owner = np.repeat(np.arange(len(counts)), counts)
    w = rng.exponential(1.0, len(owner))
    sums = np.bincount(owner, weights=w, minlength=len(counts))
    return total[owner] * w / sums[owner]


def _currencies(rng: np.random.Generator, n: int, share_fx: float) -> npt.NDArray[np.str_]:
    fx = np.array(sorted(pools.BASE_RATES), dtype="U3")
    weights = np.array([8.0 if c in ("USD", "HKD", "EUR") else 1.0 for c in fx])
    picks = fx[rng.choice(len(fx), n, p=weights / weights.sum())]
    return np.where(rng.random(n) < share_fx, picks, "CNY")


def recode(values: npt.NDArray[np.str_], mapping: dict[str, str]) -> npt.NDArray[np.str_]:
    """Map a small code set over a column, vectorized (one comparison per code)."""
    out = values.astype(f"U{max(len(v) for v in mapping.values())}").copy()
    for code, new in mapping.items():
        out[values == code] = new
    return out


def rate_of(currency: npt.NDArray[np.str_], rates: dict[str, int]) -> IntArray:
    """Each row's rate in 1/10000 CNY per 100 units (CNY: 1,000,000); vectorized."""
    out = np.full(len(currency), 1_000_000, dtype=np.int64)
    for code, rate in rates.items():
        out[currency == code] = rate
    return out


def to_units(
    cny: npt.NDArray[np.float64], currency: npt.NDArray[np.str_], rates: dict[str, int]
) -> IntArray:
    """CNY amounts (float, only to draw them) as fen of ``currency`` at ``rates``."""
    return np.round(cny * 100_000_000 / rate_of(currency, rates)).astype(np.int64)


def _status(rng: np.random.Generator, n: int) -> npt.NDArray[np.str_]:
    r = rng.random(n)
    return np.where(r < 0.90, "N", np.where(r < 0.95, "F", "C"))


def _subbranch(rng: np.random.Generator, branch: str, n: int) -> npt.NDArray[np.bytes_]:
    return seq_codes(branch, rng.integers(1, 60, n), 4)


def rtl_accounts(
    rng: np.random.Generator,
    cust: Table,
    wealth: npt.NDArray[np.float64],
    branch: str,
    business_date: date,
    rates: dict[str, int],
) -> Accounts:
    """Demand (D) and time (T) deposits: the wealth split over 1-4 accounts, plus small
    accounts that mostly fall under the export filter."""
    n = len(wealth)
    big = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.3, 0.15, 0.1])
    small = (rng.random(n) < 0.5).astype(np.int64)
    counts = big + small
    owner = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    is_small = (np.arange(len(owner)) - first[owner]) >= big[owner]
    cny = _split(rng, wealth, big.astype(np.int64))
    balance_cny = np.empty(len(owner))
    balance_cny[~is_small] = cny
    balance_cny[is_small] = rng.uniform(10, 60_000, int(is_small.sum()))
    m = len(owner)
    currency = _currencies(rng, m, 0.15)
    product = np.where(rng.random(m) < 0.4, "T", "D")
    term = np.where(product == "T", rng.choice([3, 6, 12, 24, 36, 60], m), 0)
    opened = random_dates(rng, m, date(2010, 1, 1), business_date)
    maturity = np.where(product == "T", add_months(opened, term), 0)
    cust_no = np.asarray(cust["cust_no"])
    table: Table = {
        "acct_no": seq_codes(f"62{branch_number(branch)}", np.arange(1, m + 1, dtype=np.int64), 18),
        "cust_no": cust_no[owner],
        "product": product,
        "currency": currency,
        "balance": Num(to_units(balance_cny, currency, rates), 2),
        "term_months": Num(term.astype(np.int64)),
        "open_date": Dates(opened),
        "maturity_date": Dates(maturity),
        "status": _status(rng, m),
        "branch_code": _subbranch(rng, branch, m),
    }
    return Accounts(table, owner)


def crd_accounts(
    rng: np.random.Generator,
    cust: Table,
    wealth: npt.NDArray[np.float64],
    branch: str,
    business_date: date,
    rates: dict[str, int],
) -> Accounts:
    """Cards: 1-2 each; a deposit on some, an overdraft on many, a credit limit on all."""
    n = len(wealth)
    counts = rng.choice([1, 2], n, p=[0.7, 0.3])
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    currency = _currencies(rng, m, 0.08)
    deposit_cny = np.where(rng.random(m) < 0.3, _split(rng, wealth * 0.05, counts), 0.0)
    limit = rng.choice([10_000, 20_000, 50_000, 100_000, 200_000], m) * 100
    overdraft = np.where(rng.random(m) < 0.6, (limit * rng.uniform(0, 0.8, m)).astype(np.int64), 0)
    return Accounts(
        {
            "card_no": seq_codes(
                f"6225{branch_number(branch)}", np.arange(1, m + 1, dtype=np.int64), 10
            ),
            "cust_no": np.asarray(cust["cust_no"])[owner],
            "currency": currency,
            "deposit_balance": Num(to_units(deposit_cny, currency, rates), 2),
            "overdraft_amount": Num(overdraft.astype(np.int64), 2),
            "credit_limit": Num(limit.astype(np.int64), 2),
            "open_date": Dates(random_dates(rng, m, date(2012, 1, 1), business_date)),
            "status": _status(rng, m),
            "branch_code": _subbranch(rng, branch, m),
        },
        owner,
    )


def lon_accounts(
    rng: np.random.Generator,
    cust: Table,
    wealth: npt.NDArray[np.float64],
    branch: str,
    business_date: date,
    rates: dict[str, int],
) -> Accounts:
    """Consumer loans, one or two each; some overdue by a few instalments."""
    n = len(wealth)
    counts = rng.choice([1, 2], n, p=[0.85, 0.15])
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    term = rng.choice([6, 12, 24, 36, 60], m)
    principal = (rng.uniform(5_000, 300_000, m) * 100).astype(np.int64)
    overdue = rng.random(m) < 0.12
    periods = np.where(overdue, rng.integers(1, 7, m), 0)
    overdue_balance = np.where(overdue, (principal / term * periods).astype(np.int64), 0)
    opened = random_dates(rng, m, date(2019, 1, 1), business_date)
    currency = np.where(rng.random(m) < 0.02, "HKD", "CNY")
    return Accounts(
        {
            "loan_no": seq_codes(
                f"LN{branch_number(branch)}", np.arange(1, m + 1, dtype=np.int64), 12
            ),
            "cust_no": np.asarray(cust["cust_no"])[owner],
            "currency": currency,
            "principal_balance": Num(principal, 2),
            "term_months": Num(term.astype(np.int64)),
            "overdue_balance": Num(overdue_balance.astype(np.int64), 2),
            "overdue_periods": Num(periods.astype(np.int64)),
            "open_date": Dates(opened),
            "maturity_date": Dates(add_months(opened, term)),
            "status": _status(rng, m),
            "branch_code": _subbranch(rng, branch, m),
        },
        owner,
    )


def fnd_holdings(
    rng: np.random.Generator,
    cust: Table,
    wealth: npt.NDArray[np.float64],
    branch: str,
    business_date: date,
    rates: dict[str, int],
) -> Accounts:
    """Fund holdings, 1-3 each: ``market_value = round(shares x nav, 2)`` (half up)."""
    n = len(wealth)
    counts = rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2])
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    currency = np.where(rng.random(m) < 0.05, "USD", "CNY")
    nav = rng.integers(5_000, 60_000, m).astype(np.int64)  # 0.5000 .. 6.0000
    value_cny = _split(rng, wealth * 0.3, counts.astype(np.int64))
    value_units = to_units(value_cny, currency, rates)  # fen of currency
    shares = np.maximum(value_units * 10_000 // nav, 100)  # 1/100 shares
    market_value = (shares * nav + 5_000) // 10_000  # fen, half up (all positive)
    fund_codes = np.array([f"{c:06d}" for c in rng.integers(1, 20_000, 200)], dtype="S6")
    return Accounts(
        {
            "fund_acct": seq_codes(f"FA{branch}", np.arange(1, m + 1, dtype=np.int64), 12),
            "cust_no": np.asarray(cust["cust_no"])[owner],
            "fund_code": fund_codes[rng.integers(0, len(fund_codes), m)],
            "shares": Num(shares, 2),
            "nav": Num(nav, 4),
            "market_value": Num(market_value, 2),
            "currency": currency,
            "branch_code": _subbranch(rng, branch, m),
        },
        owner,
    )


ACCOUNT_BUILDERS = {
    "RTL": rtl_accounts,
    "CRD": crd_accounts,
    "LON": lon_accounts,
    "FND": fnd_holdings,
}
ACCOUNT_ENTITY = {"RTL": "ACCT", "CRD": "ACCT", "LON": "ACCT", "FND": "HOLD"}


def fx_rates(rng: np.random.Generator) -> dict[str, int]:
    """The day's board rates in 1/10000 CNY per 100 units, jittered by up to 1%."""
    out = {}
    for code in sorted(pools.BASE_RATES):
        base = pools.BASE_RATES[code]
        out[code] = max(1, int(round(base * (1 + rng.uniform(-0.01, 0.01)) * 10_000)))
    return out


def rate_table(rates: dict[str, int], business_date: date) -> Table:
    """``FXR_RATE``: up to four decimals, trailing zeros beyond two dropped (``712.35``)."""
    text = []
    for code in sorted(rates):
        whole, frac = divmod(rates[code], 10_000)
        digits = f"{frac:04d}".rstrip("0").ljust(2, "0")
        text.append(f"{whole}.{digits}")
    day = int(business_date.strftime("%Y%m%d"))
    return {
        "currency": np.array(sorted(rates), dtype="S3"),
        "cny_per_100": np.array(text, dtype="S"),
        "rate_date": Dates(np.full(len(rates), day, dtype=np.int64)),
    }
