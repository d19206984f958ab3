"""The people and companies of a branch, and the customer record each system holds.

The world of one branch is a set of *entities* (a person or a company with one true
identity); each system holds a customer record for some of them, with the identification
number keyed the way that system's counters type it. Builders return tables of fields
(:mod:`crm_pipeline.sample.columns`) and know nothing of encodings, widths or flag files:
the writer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from crm_pipeline.sample.columns import Categorical, Dates, IntArray, Table, take
from crm_pipeline.sample.dates import random_dates
from crm_pipeline.sample.ids import (
    credit_codes,
    full_width,
    identity_cards,
    org_codes,
    to_legacy15,
    with_space,
)
from crm_pipeline.sample.naming import (
    CRD_LETTER,
    branch_codes,
    cust_no_format,
    recode,
    seq_codes,
)
from crm_pipeline.sample.pools import addresses, company_names, person_names, places_of

# Share of entities holding a record in each system, for persons and companies.
PRESENCE = {
    "RTL": (0.85, 0.90),
    "CRD": (0.45, 0.20),
    "LON": (0.25, 0.0),  # personal consumer loans only
    "FND": (0.35, 0.25),
}


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
    places = places_of(branch)
    company = rng.random(n) < 0.12
    person_pool = person_names(rng, max(64, min(n, 50_000)))
    company_pool = company_names(rng, max(16, min(n // 8 + 1, 5_000)), places)
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
    addr_pool, post_pool = addresses(rng, max(32, min(n, 20_000)), places)
    addr_index = rng.integers(0, len(addr_pool), n)

    region = np.array([p.region for p in places])[rng.integers(0, len(places), n)]
    birth = random_dates(rng, n, date(1942, 1, 1), date(2005, 12, 31))
    seq = rng.integers(0, 1000, n)
    id_card = identity_cards(region, birth, seq)
    org = org_codes(rng.integers(10_000_000, 99_999_999, n))
    uscc = credit_codes(org, region)
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
    number[legacy] = [to_legacy15(s) for s in number[legacy]]
    lower = cards & (r >= 0.10) & (r < 0.16) & (np.char.endswith(number, "X"))
    number[lower] = np.char.lower(number[lower])
    wide = (r >= 0.16) & (r < 0.19)
    count = 6 if system == "RTL" else None  # 18 full-width characters overflow RTL's 32 bytes
    number[wide] = [full_width(s, count) for s in number[wide]]
    spaced = (r >= 0.19) & (r < 0.22)
    spaces = np.where(rng.random(len(rows)) < 0.5, " ", "\u3000")
    number[spaced] = [
        with_space(s, 6, sp) for s, sp in zip(number[spaced], spaces[spaced], strict=True)
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
    prefix, digits = cust_no_format(system, branch)
    cust_no = seq_codes(prefix, np.arange(1, n + 1, dtype=np.int64) + 10_000, digits)
    id_type, id_no = id_fields(rng, ent, rows, system)
    name = t["name"]
    address = t["address"]
    postcode = t["postcode"]
    birth = t["birth_date"]
    opened = t["open_date"]
    assert isinstance(name, Categorical) and isinstance(address, Categorical)
    assert isinstance(postcode, Categorical) and isinstance(birth, Dates)
    assert isinstance(opened, Dates)
    branch_code = branch_codes(rng, branch, n)
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
