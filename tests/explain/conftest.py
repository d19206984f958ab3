"""The explain tests' world: a small ZJ sample with hand-made customers added (one person
written four ways across four systems, one who does not qualify, one company known by its
organization code and its credit code), loaded at D0 and by two daily runs (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily
from crm_pipeline.sample.ids import full_width, to_legacy15, with_space
from tests import oracle
from tests.daily.conftest import World
from tests.end_to_end.edge_dumps import (
    append,
    crd_acct,
    crd_cust,
    delimited_line,
    fixed_line,
    fnd_cust,
    fnd_hold,
    rewrite_flags,
    rtl_acct,
    rtl_cust,
    valid_id_card,
)

D0 = date(2026, 11, 24)  # the day edge_dumps.append writes to
ID_MERGED = valid_id_card("33010619800303456")  # born 1980: has a legacy 15-digit form
ID_SMALL = valid_id_card("33010619700707123")
ORG = "M3AB7K2P" + oracle.org_code_check("M3AB7K2P")
CREDIT = "91330100" + ORG + oracle.credit_code_check("91330100" + ORG)
# The worked example: 370,724.77 + 125,303.35 + 1.2 x 56,237.50 / 24
# + 2 x 796,659.64 = 2,092,159.275 exactly, rounded half away from zero.
EXACT_MERGED = Decimal("2092159.275")
SCORE_MERGED = Decimal("2092159.28")
SCORE_SMALL = Decimal("60000.00") + Decimal("1.1") * Decimal("10000.00")


def lon_cust(cust_no: str, cust_type: str, id_type: str, id_no: str) -> bytes:
    fields = [cust_no, cust_type, "贷款客户", id_type, id_no, "", "", "13600000000", "杭州",
              "310000", "ZJ0001"]  # fmt: skip
    return delimited_line("LON_CUST", fields)


def lon_acct(loan_no: str, cust_no: str, principal: str, term: str) -> bytes:
    fields = [loan_no, cust_no, "CNY", principal, term, "0.00", "0", "20200101", "20301231",
              "N", "ZJ0001"]  # fmt: skip
    return delimited_line("LON_ACCT", fields)


def add_customers(landing: Path) -> None:
    """The hand-made customers, appended to the generated files (flags rewritten)."""
    append(
        landing, "ZJ", "RTL_CUST",
        rtl_cust_line("ZJ9100000000001", "王合并", to_legacy15(ID_MERGED), "19800303"),
        rtl_cust_line("ZJ9100000000002", "李不够", ID_SMALL, "19700707"),
    )  # fmt: skip
    append(
        landing, "ZJ", "RTL_ACCT",
        rtl_acct("6211999910000000000001", "ZJ9100000000001", "CNY", "370724.77"),
        rtl_acct("6211999910000000000002", "ZJ9100000000001", "CNY", "125303.35"),
        rtl_acct("6211999910000000000003", "ZJ9100000000002", "CNY", "60000.00"),
    )  # fmt: skip
    append(
        landing, "ZJ", "CRD_CUST",
        crd_cust("C910001", full_width(ID_MERGED), birth="19800303"),
        crd_cust("C910002", ID_SMALL, birth="19700707"),
    )  # fmt: skip
    append(landing, "ZJ", "CRD_ACCT", crd_acct("6225999910000002", "C910002", "10000.00"))
    append(
        landing, "ZJ", "LON_CUST",
        lon_cust("L910001", "P", "01", ID_MERGED),
        lon_cust("L910003", "C", "21", f"{ORG[:8]}-{ORG[8]}"),
    )  # fmt: skip
    append(landing, "ZJ", "LON_ACCT", lon_acct("LN9100000001", "L910001", "56237.50", "24"))
    append(
        landing, "ZJ", "FND_CUST",
        fnd_cust("F910001", "P", "01", with_space(ID_MERGED, 6, "\u3000")),
        fnd_cust("F910003", "C", "23", CREDIT),
    )  # fmt: skip
    append(
        landing, "ZJ", "FND_HOLD",
        fnd_hold("FA9100000001", "F910001", "796659.64"),
        fnd_hold("FA9100000003", "F910003", "6000000.00"),
    )  # fmt: skip
    rewrite_flags(landing)


def rtl_cust_line(cust_no: str, name: str, id_no: str, birth: str) -> bytes:
    return fixed_line("RTL_CUST", {**rtl_cust(cust_no, name, id_no), "birth_date": birth})


@dataclass(frozen=True)
class ExplainWorld:
    world: World
    # After each day's run, the warehouse's CRM customers: crm_cust_id -> (score, qualified).
    crm_by_day: dict[str, dict[int, tuple[Decimal, bool]]]


def crm_customers(world: World) -> dict[int, tuple[Decimal, bool]]:
    rows = world.query(
        "SELECT crm_cust_id, score, qualified FROM crm_customer WHERE province = 'ZJ'"
    )
    return {int(r[0]): (Decimal(str(r[1])), bool(r[2])) for r in rows}


@pytest.fixture(scope="package")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExplainWorld]:
    """ZJ (with NB) at D0 (initial) and D1, D2 (daily), all published; the warehouse's
    CRM customers recorded after each day."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_INGEST_WORKERS", "1")
        root = tmp_path_factory.mktemp("explain")
        landing = root / "landing"
        write_sample(landing, D0, ["ZJ", "NB"], 100, 17)
        add_customers(landing)
        write_daily(landing, D0, 2, seed=17)
        w = World(root, landing, root / "staging", f"sqlite:///{root / 'warehouse.db'}", D0, 2)
        crm_by_day = {}
        for index in range(3):
            summaries = w.run(index, "initial" if index == 0 else "daily")
            assert [s.status for s in summaries] == ["published"], summaries
            crm_by_day[w.day(index)] = crm_customers(w)
        yield ExplainWorld(w, crm_by_day)
