"""The initial sample's data files of one system at one branch: customers, then accounts.

Each file is the builders' good records with a few injected on purpose (see
:mod:`crm_pipeline.sample.inject`); the account file also carries the orphans that the
customer file's damage causes, and, for retail, the export filter applied exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.config import LayoutConfig
from crm_pipeline.sample.accounts import Accounts
from crm_pipeline.sample.branches import export_filter, under_filter
from crm_pipeline.sample.columns import Num, Table, cell_text, table_len, take_table
from crm_pipeline.sample.fx import rate_of
from crm_pipeline.sample.inject import Picker, break_records, few, flag_ids, replace_key
from crm_pipeline.sample.naming import ACCOUNT_ENTITY, SYSTEMS, dump_path
from crm_pipeline.sample.report import FileReport, Pending, write_pending
from crm_pipeline.sample.writer import Injected, assemble, row_fields, write_data_file


def customers_file(
    rng: np.random.Generator,
    out: Path,
    config: LayoutConfig,
    system: str,
    branch: str,
    cust: Table,
    day: str,
) -> tuple[FileReport, set[int]]:
    """Write ``{system}_CUST``; its report, and the customer rows set aside."""
    layout = config.layout_for(system, "CUST")
    report = FileReport(f"{system}_CUST", branch)
    pending = Pending(cust)
    n = table_len(cust)
    picker = Picker(rng, np.ones(n, dtype=bool))
    count = few(n)
    gone = break_records(layout, config, pending, picker, count)
    flag_ids(pending, system, picker, count)
    write_pending(dump_path(out, day, branch, system, "CUST"), layout, pending, rng, report)
    return report, gone


def _rtl_filter(
    rng: np.random.Generator,
    table: Table,
    branch: str,
    rates: dict[str, int],
    good_owner: npt.NDArray[np.bool_],
    count: int,
) -> tuple[Table, npt.NDArray[np.bool_], list[int], int, int]:
    """Apply the export filter exactly (fen x rate vs filter x 10**8); keep a few anyway.

    Returns the filtered table, which owners rows belong to (mask over the new table),
    rows sent anyway, the number left out, and the number exactly on the filter.
    """
    balance = table["balance"]
    assert isinstance(balance, Num)
    fen = balance.values
    currency = np.asarray(table["currency"]).astype(str)
    rate = rate_of(currency, rates)
    # A few CNY accounts exactly on the filter: kept (the rule is "strictly under").
    cny_rows = np.nonzero((currency == "CNY") & good_owner)[0]
    on = cny_rows[: min(count, len(cny_rows))]
    fen = fen.copy()
    fen[on] = export_filter(branch) * 100
    table = {**table, "balance": Num(fen, 2)}
    under = under_filter(fen, rate, branch)
    anyway_pool = np.nonzero(under & good_owner)[0]
    anyway = set(int(r) for r in rng.permutation(anyway_pool)[:count])
    keep = ~under
    keep[list(anyway)] = True
    new_index = np.cumsum(keep) - 1
    return (
        take_table(table, keep),
        keep,
        sorted(int(new_index[r]) for r in anyway),
        int(under.sum()) - len(anyway),
        len(on),
    )


def accounts_file(
    rng: np.random.Generator,
    out: Path,
    config: LayoutConfig,
    system: str,
    branch: str,
    accounts: Accounts,
    cust: Table,
    gone_customers: set[int],
    rates: dict[str, int],
    day: str,
) -> FileReport:
    """Write ``system``'s account file; orphans are the accounts of ``gone_customers``."""
    entity = ACCOUNT_ENTITY[system]
    layout = config.layout_for(system, entity)
    report = FileReport(f"{system}_{entity}", branch)
    table = accounts.table
    owner = accounts.owner
    orphan = np.isin(owner, list(gone_customers))
    count = few(table_len(table))
    anyway: list[int] = []
    if layout.export_filter:
        table, keep, anyway, report.left_out_by_filter, report.on_filter = _rtl_filter(
            rng, table, branch, rates, ~orphan, count
        )
        owner, orphan = owner[keep], orphan[keep]
    pending = Pending(table)
    key = layout.key[0]
    for orphan_row in np.nonzero(orphan)[0]:
        info = {"reason": "orphan", "key": cell_text(table, key, int(orphan_row))}
        pending.marks.append((int(orphan_row), "set_aside", info))
    for sent in anyway:
        pending.marks.append((sent, "filtered", {"acct_no": cell_text(table, key, sent)}))
    eligible = ~orphan
    eligible[anyway] = False
    picker = Picker(rng, eligible)
    break_records(layout, config, pending, picker, count)
    cust_no = np.asarray(cust["cust_no"])
    width = len(cell_text(cust, "cust_no", 0)) if len(cust_no) else 12
    for i in range(count):  # accounts of customers nobody sent
        taken = picker.take()
        if taken is None:
            break
        ghost = (f"{branch}X" + f"{99_990 + i}".rjust(width, "9"))[:width].encode()
        fields = replace_key(row_fields(table, taken, layout), layout, "cust_no", ghost)
        line = assemble(fields, layout)
        pending.injected.append(Injected(0, line, "orphan", cell_text(table, key, taken)))
        pending.drop.add(taken)
    write_pending(dump_path(out, day, branch, system, entity), layout, pending, rng, report)
    return report


def empty_files(out: Path, config: LayoutConfig, branch: str, day: str) -> list[FileReport]:
    """Every file of a branch with no customers: empty, each with its flag."""
    reports = []
    for system in SYSTEMS:
        for entity in ("CUST", ACCOUNT_ENTITY[system]):
            report = FileReport(f"{system}_{entity}", branch)
            path = dump_path(out, day, branch, system, entity)
            report.written = write_data_file(path, {}, config.layout_for(system, entity))
            reports.append(report)
    return reports
