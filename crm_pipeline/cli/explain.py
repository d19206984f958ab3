"""`crm-pipeline explain --date D --province P (--id-type T --id-no N | --crm-cust-id X)
[--json]`: why is this customer (not) in the CRM?

Shows the source records merged into the customer (as written, normalized, and the rule
that joined each), its master record and why, each account with its CNY equivalent and the
aggregates it fed, each term of the formula with its exact value, the score, the threshold,
and the score on every earlier published date. Exact values are printed exactly: as
decimals when they end, else as `numerator/denominator` (JSON: always strings).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from crm_pipeline.cli.status import table
from crm_pipeline.explain import Explanation, Query, explain


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain", help="why a customer is (not) in the CRM, on a date", description=__doc__
    )
    parser.add_argument("--date", required=True, help="published business date, YYYYMMDD")
    parser.add_argument("--province", required=True, help="province code")
    parser.add_argument("--id-type", help="identification type (canonical code or CRD letter)")
    parser.add_argument("--id-no", help="identification number, as any system writes it")
    parser.add_argument("--crm-cust-id", type=int, help="the CRM's customer number")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--warehouse", metavar="URL", help="SQLAlchemy URL (default: config)")
    parser.add_argument("--staging", help="staging folder or s3://bucket/prefix (default: config)")
    parser.add_argument("--formulas", type=Path, help="formula directory (default: shipped)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    by_number = args.id_type is not None or args.id_no is not None
    if by_number == (args.crm_cust_id is not None) or (
        by_number and (args.id_type is None or args.id_no is None)
    ):
        print("crm-pipeline explain: give --id-type and --id-no, or --crm-cust-id", file=sys.stderr)
        return 2
    query = Query(args.province, args.date, args.id_type, args.id_no, args.crm_cust_id)
    result = explain(query, args.staging, args.warehouse, args.formulas)
    if args.json:
        print(json.dumps(as_json(result), ensure_ascii=False, indent=2))
    else:
        print(as_text(result))
    return 0


def exact(value: Fraction | Decimal) -> str:
    """An exact value as text: a decimal when it ends, else numerator/denominator."""
    value = Fraction(value)
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = max(twos, fives)
    scaled = value.numerator * 10**digits // value.denominator  # exact: a whole number
    return format(Decimal(f"{scaled}E-{digits}"), "f")


def _money(value: Fraction | Decimal) -> str:
    """For reading: thousands separated, at least two decimals, every exact digit kept
    (a value that does not end is shown to 8 decimals, marked ≈)."""
    text = exact(value)
    if "/" in text:
        ratio = Fraction(value)
        return "≈" + format(Decimal(ratio.numerator) / Decimal(ratio.denominator), ",.8f")
    number = Decimal(text)
    places = max(2, -int(number.as_tuple().exponent))
    return format(number, f",.{places}f")


def as_json(e: Explanation) -> dict[str, Any]:
    s = e.score
    crm = e.crm
    return {
        "province": e.province,
        "business_date": e.business_date.strftime("%Y%m%d"),
        "cust_key": e.cust_key,
        "cust_type": e.cust_type,
        "id_type": e.key_id_type,
        "id_no": e.key_id_no,
        "name": e.name,
        "crm_cust_id": crm.crm_cust_id if crm else None,
        "score": str(s.score),
        "score_exact": exact(s.exact),
        "qualified": s.qualified,
        "threshold": str(s.threshold),
        "formula_id": s.formula_id,
        "formula": s.formula,
        "master_source": e.master_source,
        "master_cust_no": e.master_cust_no,
        "master_reason": e.master_reason,
        "sources": [
            {
                "source": r.source,
                "cust_no": r.cust_no,
                "role": r.role,
                "name": r.name,
                "id_type": r.id_type,
                "id_type_written": r.id_type_written,
                "id_no_written": r.id_no_written,
                "id_no_normalized": r.id_no_normalized,
                "id_valid": r.id_valid,
                "rules": r.rules,
                "file": r.file,
                "line": r.line,
            }
            for r in e.sources
        ],
        "accounts": [
            {
                "source": a.source,
                "acct_no": a.acct_no,
                "cust_no": a.cust_no,
                "kind": a.kind,
                "currency": a.currency,
                "status": a.status,
                "balance": str(a.balance),
                "balance_cny": exact(a.balance_cny),
                "in_scope": a.in_scope,
                "aggregates": [{"name": n, "value": exact(v)} for n, v in a.use.aggregates],
                "left_out": a.use.left_out,
            }
            for a in e.accounts
        ],
        "aggregates": [{"name": n, "value": exact(v)} for n, v in s.aggregates.items()],
        "terms": [{"name": n, "value": exact(v)} for n, v in s.terms],
        "warehouse": None
        if crm is None
        else {
            "crm_cust_id": crm.crm_cust_id,
            "score": str(crm.score),
            "qualified": crm.qualified,
            "formula_id": crm.formula_id,
            "batch_id": crm.batch_id,
            "batch_date": crm.batch_date.strftime("%Y%m%d"),
            "first_date": crm.first_date.strftime("%Y%m%d"),
            "holds_for_date": e.warehouse_holds_for_date,
        },
        "history": [
            {
                "business_date": p.business_date.strftime("%Y%m%d"),
                "score": None if p.score is None else str(p.score),
                "qualified": p.qualified,
                "formula_id": p.formula_id,
                "note": p.note,
            }
            for p in e.history
        ],
    }


def _verdict(qualified: bool | None) -> str:
    return "-" if qualified is None else "qualified" if qualified else "not qualified"


def as_text(e: Explanation) -> str:
    s = e.score
    kind = {"P": "person", "C": "company"}.get(e.cust_type, e.cust_type)
    relation = ">=" if s.qualified else "<"
    out = [
        f"{e.name or '(no name)'} ({kind}), {e.province} on {e.business_date:%Y%m%d}:"
        f" {e.key_id_type} {e.key_id_no}",
        f"Score {_money(s.score)} {relation} threshold {_money(s.threshold)}:"
        f" {_verdict(s.qualified)}  (formula {s.formula_id})",
    ]
    if e.crm is None:
        out.append("Not a CRM customer (it never qualified on a published date).")
    else:
        c = e.crm
        holds = "this date's row" if e.warehouse_holds_for_date else "changed after this date"
        agrees = (
            ("agrees" if (c.score, c.qualified) == (s.score, s.qualified) else "DISAGREES")
            if e.warehouse_holds_for_date
            else "not comparable"
        )
        out.append(
            f"CRM customer {c.crm_cust_id} since {c.first_date:%Y%m%d}; the warehouse holds"
            f" score {_money(c.score)}, {_verdict(c.qualified)} (batch {c.batch_id} of"
            f" {c.batch_date:%Y%m%d}, {holds}): {agrees}"
        )
    out += ["", f"Source records merged ({len(e.sources)}):"]
    out.append(
        table(
            ["role", "system", "customer no.", "id type", "as written", "normalized", "rule"],
            [
                [
                    r.role,
                    r.source,
                    r.cust_no,
                    r.id_type_written,
                    repr(r.id_no_written)[1:-1],
                    r.id_no_normalized,
                    ", ".join(r.rules),
                ]
                for r in e.sources
            ],  # fmt: skip
            "  ",
        )
    )
    out.append(f"Master: {e.master_source} {e.master_cust_no} ({e.master_reason})")
    out += ["", f"Accounts ({len(e.accounts)}):"]
    out.append(
        table(
            ["system", "account", "kind", "currency", "status", "balance", "CNY", "fed"],
            [
                [
                    a.source,
                    a.acct_no,
                    a.kind,
                    a.currency,
                    a.status,
                    _money(a.balance),
                    _money(a.balance_cny),
                    "; ".join(f"{n} {_money(v)}" for n, v in a.use.aggregates)
                    or f"nothing: {a.use.left_out or 'in no aggregate'}",
                ]
                for a in e.accounts
            ],  # fmt: skip
            "  ",
        )
        if e.accounts
        else "  (none)"
    )
    out += ["", f"Formula ({e.cust_type}): {s.formula}"]
    rows = [[name, _money(value)] for name, value in s.terms]
    rows += [["sum (exact)", _money(s.exact)], ["score (rounded once, half away)", _money(s.score)]]
    out.append(table(["term", "value"], rows, "  "))
    if s.aggregates:
        out.append(
            "  aggregates: " + ", ".join(f"{n} {_money(v)}" for n, v in s.aggregates.items())
        )
    out += ["", "Earlier published dates:"]
    if not e.history:
        out.append("  (none)")
    for p in e.history:
        if p.score is None:
            out.append(f"  {p.business_date:%Y%m%d}  {p.note}")
        else:
            out.append(
                f"  {p.business_date:%Y%m%d}  score {_money(p.score)}  {_verdict(p.qualified)}"
                f"  ({p.formula_id})"
            )
    return "\n".join(out)
