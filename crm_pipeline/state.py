"""A province's state snapshot: its copy of every system's customers and accounts as of a
published business date, the input of the next daily run (and of statements and trials).

Written by the initial load and by every daily run, in the layout of
`common.staging.StagingArea.state_dir`, as uncompressed Arrow IPC files: a daily run reads
yesterday's whole state memory-mapped, with no decoding. The snapshot is written locally (in
the scratch folder when the staging area is an object store); the step that writes it lists
its files as outputs, so the restart ledger uploads them before the step is done.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.batch import BatchTable, parts_of
from common.errors import PipelineError
from common.schema import SOURCE_ACCOUNT, SOURCE_CUSTOMER, conform
from common.staging import StagingArea
from transform.fx import CNY_EXACT

# The state's account table: SOURCE_ACCOUNT with the business date's CNY equivalents and
# whether the account counts in a score that day (the RTL export filter).
STATE_ACCOUNT = pa.schema(
    [
        *SOURCE_ACCOUNT,
        pa.field("balance_cny", CNY_EXACT, nullable=False),
        pa.field("overdraft_cny", CNY_EXACT, nullable=False),
        pa.field("overdue_balance_cny", CNY_EXACT, nullable=False),
        pa.field("in_scope", pa.bool_(), nullable=False),
    ]
)


def yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def write_state(
    area: StagingArea,
    province: str,
    business_date: str,
    customers: BatchTable,
    accounts: BatchTable,
) -> list[Path]:
    """Write a state snapshot atomically (aside, then renamed), part by part, so memory is
    bounded by a part; the two files written."""
    target = area.state_dir(province, business_date)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, table in (("customers", customers), ("accounts", accounts)):
        final = area.state_file(province, business_date, name)
        with (
            pa.OSFile(str(tmp / final.name), "wb") as sink,
            pa.ipc.new_file(sink, table.schema) as arrow,
        ):
            for part in parts_of(table):
                arrow.write_table(part)
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return [area.state_file(province, business_date, name) for name in ("customers", "accounts")]


def _read_snapshot(
    area: StagingArea, province: str, business_date: str, name: str
) -> pa.Table | None:
    """One table of a state snapshot: Arrow IPC, or Parquet (initial loads of earlier
    versions wrote a Parquet copy, and before that only Parquet). On an object store the
    store's copy is fetched into the scratch folder first (another machine may have written
    it), then memory-mapped there."""
    arrow = area.state_file(province, business_date, name)
    parquet = arrow.with_suffix(".parquet")
    if area.fetch(arrow):
        return pa.ipc.open_file(pa.memory_map(str(arrow))).read_all()
    if area.fetch(parquet):
        return pq.read_table(parquet)
    return None


def read_state(area: StagingArea, province: str, business_date: date) -> tuple[pa.Table, pa.Table]:
    """The province's customers and accounts as of a published business date."""
    day = yyyymmdd(business_date)
    customers = _read_snapshot(area, province, day, "customers")
    accounts = _read_snapshot(area, province, day, "accounts")
    if customers is None or accounts is None:
        raise PipelineError(
            f"the state snapshot of {day} is missing ({area.state_dir(province, day)}); "
            "it is written by that date's load and a daily run starts from it"
        )
    return conform(customers, SOURCE_CUSTOMER), conform(accounts, STATE_ACCOUNT)


def read_state_accounts(area: StagingArea, province: str, business_date: date) -> pa.Table | None:
    """The accounts of a state snapshot (for statements), None if there is none."""
    return _read_snapshot(area, province, yyyymmdd(business_date), "accounts")
