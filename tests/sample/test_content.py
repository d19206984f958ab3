"""The sample's content: identification numbers, variety, shared customers, scores.

Everything here is recomputed independently of the generator's code (see dumps.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.config import provinces
from tests.oracle import normalize_id
from tests.sample.dumps import (
    CRD_TYPES,
    records,
)


def test_identity_numbers_and_variants(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    flagged = {
        (e["file"].split("/")[1], i["cust_no"]) for e in manifest["files"] for i in e["flagged_ids"]
    }
    variants: Counter[str] = Counter()
    orgs, usccs = set(), set()
    for system in ("RTL", "CRD", "LON", "FND"):
        for branch, rec in records(root, manifest, f"{system}_CUST"):
            id_type = CRD_TYPES[rec["id_type"]] if system == "CRD" else rec["id_type"]
            raw = rec["id_no"]
            number, ok = normalize_id(id_type, raw)
            assert ok != ((branch, rec["cust_no"]) in flagged), (system, rec)
            if id_type == "01" and len(raw) == 15:
                variants["legacy15"] += 1
            if raw.endswith("x"):
                variants["lower_x"] += 1
            if any("\uff10" <= c <= "\uff19" for c in raw):
                variants["full_width"] += 1
            if "\u3000" in raw:
                variants["ideographic_space"] += 1
            if " " in raw:
                variants["ascii_space"] += 1
            if ok and id_type == "21":
                orgs.add(number)
            if ok and id_type == "23":
                usccs.add(number[8:17])
    assert all(
        variants[k] > 0
        for k in ("legacy15", "lower_x", "full_width", "ideographic_space", "ascii_space")
    ), variants
    assert len(orgs & usccs) >= 5  # organization code in one record, credit code in another


def test_content_is_varied(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    names = [rec["name"] for _, rec in records(root, manifest, "RTL_CUST")]
    assert any("\u3400" in n or "\U00020000" in n for n in names)
    assert any(len(n.encode("gb18030")) == 60 for n in names)
    assert {rec["cust_type"] for _, rec in records(root, manifest, "RTL_CUST")} == {"P", "C"}
    rtl = [rec for _, rec in records(root, manifest, "RTL_ACCT")]
    assert {r["product"] for r in rtl} == {"D", "T"} and {r["status"] for r in rtl} == {
        "N",
        "F",
        "C",
    }
    assert all((r["product"] == "T") == (int(r["term_months"]) > 0) for r in rtl)
    used = {r["currency"] for r in rtl} | {
        r["currency"] for _, r in records(root, manifest, "CRD_ACCT")
    }
    assert set(manifest["fx_rates"]) <= used
    for _, h in records(root, manifest, "FND_HOLD"):
        exact = Decimal(h["shares"]) * Decimal(h["nav"])
        assert Decimal(h["market_value"]) == exact.quantize(
            Decimal("0.01"), rounding="ROUND_HALF_UP"
        )
    loans = [r for _, r in records(root, manifest, "LON_ACCT")]
    assert any(int(r["overdue_periods"]) > 0 and Decimal(r["overdue_balance"]) > 0 for r in loans)


def test_cities_share_customers_with_their_province(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    ids: dict[str, set[str]] = defaultdict(set)
    for branch, rec in records(root, manifest, "RTL_CUST"):
        number, ok = normalize_id(rec["id_type"], rec["id_no"])
        if ok:
            ids[branch].add(number)
    assert len(ids["NB"] & ids["ZJ"]) >= 10 and len(ids["SZ"] & ids["GD"]) >= 10
    assert not ids["NB"] & ids["GD"]


def _score_share(root: Path, manifest: dict[str, Any]) -> dict[str, float]:
    """Share of merged customers at or above the threshold, by a simplified merge."""
    rates = {c: Decimal(r) / 100 for c, r in manifest["fx_rates"].items()} | {"CNY": Decimal(1)}
    owner: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    usccs: dict[tuple[str, str], str] = {}
    pending = []
    for system in ("RTL", "CRD", "LON", "FND"):
        for branch, rec in records(root, manifest, f"{system}_CUST"):
            prov = provinces().province_of(branch) or branch
            id_type = CRD_TYPES[rec["id_type"]] if system == "CRD" else rec["id_type"]
            number, ok = normalize_id(id_type, rec["id_no"])
            if ok and id_type == "23":
                usccs[(prov, number[8:17])] = number
            pending.append(
                (system, branch, prov, rec["cust_no"], rec["cust_type"], id_type, number, ok)
            )
    for system, branch, prov, cust_no, cust_type, id_type, number, ok in pending:  # noqa: B007
        if ok and id_type == "21" and (prov, number) in usccs:
            id_type, number = "23", usccs[(prov, number)]
        owner[(system, branch, cust_no)] = (
            prov,
            cust_type,
            f"{id_type}:{number}" if not ok else number,
        )
    score: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for key in owner.values():
        score[key] += 0
    for system, layout in (
        ("RTL", "RTL_ACCT"),
        ("CRD", "CRD_ACCT"),
        ("LON", "LON_ACCT"),
        ("FND", "FND_HOLD"),
    ):
        for branch, a in records(root, manifest, layout):
            found = owner.get((system, branch, a["cust_no"]))
            if found is None or a.get("status") == "C":
                continue
            key = found
            prov, cust_type, _ = key
            rate = rates[a["currency"]]
            fx = a["currency"] != "CNY"
            personal = cust_type == "P"
            if system == "RTL":
                bal = Decimal(a["balance"]) * rate
                term = Decimal(a["term_months"]) / 12
                if a["product"] == "D":
                    score[key] += bal * (Decimal("1.5") if fx and personal else 1)
                else:
                    score[key] += bal + (
                        (bal * term / (Decimal("1.2") if fx else Decimal("1.5"))) if personal else 0
                    )
            elif system == "CRD":
                dep = Decimal(a["deposit_balance"]) * rate
                score[key] += dep * ((Decimal("1.3") if fx else Decimal("1.1")) if personal else 1)
                score[key] -= Decimal(a["overdraft_amount"]) * rate
            elif system == "LON" and personal:
                principal = Decimal(a["principal_balance"]) * rate
                score[key] += Decimal("1.2") * principal / int(a["term_months"])
                score[key] += Decimal(a["overdue_balance"]) * rate * int(a["overdue_periods"])
            elif system == "FND":
                coef = (Decimal("1.5") if prov == "GD" else 2) if personal else 1
                score[key] += coef * Decimal(a["market_value"]) * rate
    threshold = {"ZJ": 500_000, "GD": 800_000}
    shares = {}
    for prov in ("ZJ", "GD"):
        keys = [k for k in score if k[0] == prov]
        good = [k for k in keys if score[k] >= threshold[prov] * (10 if k[1] == "C" else 1)]
        shares[prov] = len(good) / len(keys)
    return shares


def test_a_good_fraction_qualifies(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    for prov, share in _score_share(root, manifest).items():
        assert 0.10 <= share <= 0.40, (prov, share)
