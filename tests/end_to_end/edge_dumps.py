"""Hand-built records for the edge cases: lines in the layouts of core-dumps.md."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests import oracle
from tests.end_to_end.conftest import D

# A small generated sample of ZJ and NB, plus records written here, each for one rule of
# the spec; the flags are rewritten to agree. The pipeline and the oracle must agree on
# every file's counts, every set-aside line and every qualified customer, and both must
# give the hand-computed results below.

EDGE_BRANCHES = ["ZJ", "NB"]


def valid_id_card(body17: str) -> str:
    return body17 + oracle.id_card_check(body17)


ORG = "MA27X5P3" + oracle.org_code_check("MA27X5P3")
CREDIT_1 = "91330100" + ORG + oracle.credit_code_check("91330100" + ORG)
CREDIT_2 = "91330200" + ORG + oracle.credit_code_check("91330200" + ORG)
ID_4BYTE = valid_id_card("33010619800101123")
ID_TWINS = valid_id_card("33010619750505432")
ID_ROUND = valid_id_card("33010619660606543")
ID_TIE = valid_id_card("33010619440404321")
FILTER_ZJ = Decimal(50_000)


def jpy_around_filter(rate: Decimal) -> tuple[Decimal, Decimal]:
    """The largest JPY balance strictly under ZJ's filter (by less than half a fen of CNY,
    so rounding the CNY equivalent would wrongly keep it) and the next fen up (kept)."""
    over = (FILTER_ZJ * 100 / rate).quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    under = over - Decimal("0.01")
    assert under * rate / 100 < FILTER_ZJ <= over * rate / 100
    assert FILTER_ZJ - under * rate / 100 < Decimal("0.005")
    return under, over


def fixed_line(layout_name: str, values: dict[str, str]) -> bytes:
    """A fixed-width line: text left-aligned, numbers right-aligned, widths in bytes."""
    layout = oracle.layouts().layouts[layout_name]
    out = b""
    for spec in layout.fields:
        raw = values.get(spec.name, "").encode(layout.encoding)
        pad = b" " * ((spec.width or 0) - len(raw))
        assert len(pad) == (spec.width or 0) - len(raw) >= 0, spec.name
        out += pad + raw if spec.type in ("amount", "int") else raw + pad
    return out + b"\r\n"


def delimited_line(layout_name: str, values: list[str]) -> bytes:
    layout = oracle.layouts().layouts[layout_name]
    assert len(values) == len(layout.fields)
    return ("|".join(values) + "\n").encode(layout.encoding)


def rtl_cust(cust_no: str, name: str, id_no: str) -> dict[str, str]:
    return {
        "cust_no": cust_no,
        "cust_type": "P",
        "name": name,
        "id_type": "01",
        "id_no": id_no,
        "gender": "M",
        "birth_date": id_no[6:14],
        "mobile": "13800000000",
        "address": "浙江省杭州市",
        "postcode": "310000",
        "open_date": "20200101",
        "branch_code": "ZJ0001",
    }


def rtl_acct(acct_no: str, cust_no: str, currency: str, balance: str) -> bytes:
    return fixed_line(
        "RTL_ACCT",
        {
            "acct_no": acct_no,
            "cust_no": cust_no,
            "product": "D",
            "currency": currency,
            "balance": balance,
            "term_months": "0",
            "open_date": "20200101",
            "status": "N",
            "branch_code": "ZJ0001",
        },
    )


def crd_cust(cust_no: str, id_no: str, birth: str = "19750505") -> bytes:
    fields = [cust_no, "P", "卡客户", "I", id_no, "F", birth, "13900000000", "杭州", "310000"]
    return delimited_line("CRD_CUST", [*fields, "ZJ0001"])


def crd_acct(card_no: str, cust_no: str, deposit: str) -> bytes:
    fields = [card_no, cust_no, "CNY", deposit, "0.00", "100000.00", "20200101", "N", "ZJ0001"]
    return delimited_line("CRD_ACCT", fields)


def fnd_cust(cust_no: str, cust_type: str, id_type: str, id_no: str) -> bytes:
    fields = [cust_no, cust_type, "基金客户", id_type, id_no, "13700000000", "杭州", "ZJ0001"]
    return delimited_line("FND_CUST", fields)


def fnd_hold(fund_acct: str, cust_no: str, market_value: str) -> bytes:
    fields = [fund_acct, cust_no, "000001", "100000.00", "2.5000", market_value, "CNY", "ZJ0001"]
    return delimited_line("FND_HOLD", fields)


def append(landing: Path, branch: str, stem: str, *lines: bytes) -> None:
    path = landing / D / branch / f"{stem}_{branch}_{D}.dat"
    with path.open("ab") as handle:
        for line in lines:
            handle.write(line)


def rewrite_flags(landing: Path) -> None:
    for path in sorted(landing.rglob("*.dat")):
        system, entity = path.name.split("_")[:2]
        layout = oracle.layouts().layout_for(system, entity)
        path.with_suffix(".ok").write_text(oracle.flag_for(path, layout), encoding="ascii")
