"""Cross-file rules: orphans, FX conversion, the export filter to the fen, reconciliation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from common.config import layouts
from common.schema import RATE
from extract.flag import Flag
from extract.lines import raw_lines
from tests.ingesting import ingest_landed
from transform.conform import StagedFile, conform_accounts, conform_customers
from transform.fx import rates_table

CFG = layouts()


def stage(tmp_path: Path, name: str, lines: list[str], branch: str = "ZJ") -> StagedFile:
    system, entity = name.split("_")[:2]
    layout = CFG.layout_for(system, entity)
    data = "".join(line + "\n" for line in lines).encode(layout.encoding)
    path = tmp_path / name
    path.write_bytes(data)
    control = Decimal("0.00")
    if layout.control:
        index = [f.name for f in layout.fields].index(layout.control)
        control = sum((Decimal(line.split("|")[index]) for line in lines), Decimal("0.00"))
    flag = Flag(name, len(data), len(lines), control)
    out = tmp_path / (name + ".parquet")
    ingest_landed(path, layout, CFG, flag, out, branch)
    return StagedFile(path, out, layout, system, entity, branch, raw_lines)


def rates(**cny_per_100: str) -> pa.Table:
    return rates_table(
        pa.table(
            {
                "currency": list(cny_per_100),
                "cny_per_100": pa.array([Decimal(v) for v in cny_per_100.values()], RATE),
            }
        )
    )


def customer_line(cust_no: str, id_no: str = "11010519491231002X") -> str:
    return f"{cust_no}|P|张三|01|{id_no}|M|19491231|138|杭州|310000|330100001"


def test_orphans_and_accounts_of_set_aside_customers(tmp_path: Path) -> None:
    customers = conform_customers(
        [
            stage(
                tmp_path,
                "LON_CUST_ZJ_20261124.dat",
                [customer_line("L1"), customer_line("L2").replace("|19491231|", "|19491332|")],
            )
        ]
    )
    assert customers.table.column("cust_no").to_pylist() == ["L1"]
    loans = stage(
        tmp_path,
        "LON_ACCT_ZJ_20261124.dat",
        [
            "N1|L1|CNY|1000.00|12|0.00|0|20250101|20260101|N|330100001",
            "N2|L2|CNY|2000.00|12|0.00|0|20250101|20260101|N|330100001",  # customer set aside
            "N3|L9|CNY|3000.00|12|0.00|0|20250101|20260101|N|330100001",  # not sent at all
        ],
    )
    accounts = conform_accounts([loans], customers.table, rates(), Decimal("50000"))
    assert accounts.table.column("acct_no").to_pylist() == ["N1"]
    reasons = dict(
        zip(
            accounts.rejects.column("line").to_pylist(),
            accounts.rejects.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons == {
        2: "orphan: customer L2 is not a known LON customer",
        3: "orphan: customer L9 is not a known LON customer",
    }
    assert accounts.rejects.column("raw").to_pylist()[0].startswith("N2|L2|CNY|2000.00")


def test_export_filter_exact_to_the_fen_and_only_for_retail(tmp_path: Path) -> None:
    customers = conform_customers(
        [stage(tmp_path, "CRD_CUST_ZJ_20261124.dat", [customer_line("K1").replace("|01|", "|I|")])]
    )
    # USD at 712.3456 per 100: 7019.02 USD = 50000.1752... CNY, 7019.01 USD = 49999.9990...
    cards = stage(
        tmp_path,
        "CRD_ACCT_ZJ_20261124.dat",
        ["C1|K1|USD|1.00|0.00|0.00|20250101|N|330100001"],
    )
    accounts = conform_accounts([cards], customers.table, rates(USD="712.3456"), Decimal("50000"))
    assert accounts.table.num_rows == 1  # the filter is the retail system's: cards never filtered
    assert accounts.table.column("balance_cny").to_pylist() == [Decimal("7.12345600")]


def test_retail_filter_keeps_exactly_on_it_filters_a_fen_under(tmp_path: Path) -> None:
    from tests.extract.test_records import acct, fixed_line

    def rtl_acct(acct_no: str, balance: str, currency: str) -> dict[str, str]:
        return acct(acct_no, balance, cust_no="R1", currency=currency)

    cust = {
        "cust_no": "R1",
        "cust_type": "P",
        "name": "李四",
        "id_type": "01",
        "id_no": "11010519491231002X",
        "birth_date": "19491231",
        "open_date": "20100101",
    }
    cust_path = tmp_path / "RTL_CUST_ZJ_20261124.dat"
    cust_path.write_bytes(fixed_line(cust, "RTL_CUST"))
    cust_out = tmp_path / "c.parquet"
    ingest_landed(
        cust_path,
        CFG.layouts["RTL_CUST"],
        CFG,
        Flag(cust_path.name, cust_path.stat().st_size, 1, Decimal("0.00")),
        cust_out,
        "ZJ",
    )
    customers = conform_customers(
        [StagedFile(cust_path, cust_out, CFG.layouts["RTL_CUST"], "RTL", "CUST", "ZJ", raw_lines)]
    )
    # 6250.00 USD x 800.0000 / 100 = 50000 exactly: kept. 6249.99 -> 49999.92: filtered.
    rows = [
        rtl_acct("A-ON", "6250.00", "USD"),
        rtl_acct("A-UNDER", "6249.99", "USD"),
        rtl_acct("A-CNY", "50000.00", "CNY"),
        rtl_acct("A-CNY-UNDER", "49999.99", "CNY"),
    ]
    acct_path = tmp_path / "RTL_ACCT_ZJ_20261124.dat"
    acct_path.write_bytes(b"".join(fixed_line(r, "RTL_ACCT") for r in rows))
    acct_out = tmp_path / "a.parquet"
    control = sum((Decimal(r["balance"]) for r in rows), Decimal("0.00"))
    ingest_landed(
        acct_path,
        CFG.layouts["RTL_ACCT"],
        CFG,
        Flag(acct_path.name, acct_path.stat().st_size, 4, control),
        acct_out,
        "ZJ",
    )
    staged = StagedFile(
        acct_path, acct_out, CFG.layouts["RTL_ACCT"], "RTL", "ACCT", "ZJ", raw_lines
    )
    accounts = conform_accounts([staged], customers.table, rates(USD="800.0000"), Decimal("50000"))
    assert accounts.table.column("acct_no").to_pylist() == ["A-ON", "A-CNY"]
    assert accounts.filtered == {acct_path.name: 2}
    assert accounts.rejects.num_rows == 0
    # Daily runs keep every account; the filter decides only the scoring scope.
    daily = conform_accounts(
        [staged], customers.table, rates(USD="800.0000"), Decimal("50000"), drop_filtered=False
    )
    assert daily.filtered == {}
    assert dict(
        zip(
            daily.table.column("acct_no").to_pylist(),
            daily.table.column("in_scope").to_pylist(),
            strict=True,
        )
    ) == {"A-ON": True, "A-UNDER": False, "A-CNY": True, "A-CNY-UNDER": False}


def test_missing_rate_is_set_aside_and_cross_branch_duplicate(tmp_path: Path) -> None:
    zj = stage(tmp_path, "FND_CUST_ZJ_20261124.dat", ["F1|P|王五|01|11010519491231002X|138|杭州|1"])
    nb_dir = tmp_path / "nb"
    nb_dir.mkdir()
    nb = stage(
        nb_dir, "FND_CUST_NB_20261124.dat", ["F1|P|王五|01|11010519491231002X|138|宁波|1"], "NB"
    )
    customers = conform_customers([zj, nb])
    assert customers.table.column("branch").to_pylist() == ["ZJ"]
    assert customers.rejects.column("reason").to_pylist() == [
        "customer number already sent in another branch file: F1"
    ]
    holds = stage(tmp_path, "FND_HOLD_ZJ_20261124.dat", ["H1|F1|X1|1.00|1.0000|1.00|GBP|1"])
    accounts = conform_accounts([holds], customers.table, rates(USD="712.0000"), Decimal("50000"))
    assert accounts.table.num_rows == 0
    assert accounts.rejects.column("reason").to_pylist() == ["no FX rate for currency GBP"]
