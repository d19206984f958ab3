"""The day's transactions: those of CRM customers' accounts are loaded into `crm_txn`.

A transaction id sent by two branch files of the province is set aside at all but its
first occurrence, like a customer or account number; a transaction of an account that is
not a CRM customer's is counted as filtered (the pipeline keeps no details of customers the
CRM does not know). They load after the day's batch, whose CRM accounts they need.
"""

from __future__ import annotations

import logging
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.batch import FileCounts
from common.rejects import reject_rows
from common.schema import MONEY, REJECT
from crm_pipeline.context import RunContext
from crm_pipeline.crash import crash_point
from crm_pipeline.daily.inputs import txn_records
from crm_pipeline.ingest_step import Ingested, staged_files
from crm_pipeline.reconcile import count_by_file, reconciled_counts
from load.transactions import crm_account_ids, publish_transactions
from load.warehouse import Warehouse
from transform.changes import joined
from transform.conform import first_occurrence, quote_raw_lines

log = logging.getLogger(__name__)

TXN_STAGED = ["txn_id", "acct_no", "txn_date", "txn_time", "dc", "amount", "currency",
              "channel", "balance_after", "memo"]  # fmt: skip

# The rows `load.txn.publish_transactions` loads.
TXN_ROWS = pa.schema(
    [("source", pa.string()), ("txn_id", pa.string()), ("acct_no", pa.string()),
     ("crm_cust_id", pa.int64()), ("business_date", pa.date32()), ("txn_date", pa.date32()),
     ("txn_time", pa.string()), ("dc", pa.string()), ("amount", MONEY),
     ("currency", pa.string()), ("channel", pa.string()), ("balance_after", MONEY),
     ("memo", pa.string())]
)  # fmt: skip

_DUPLICATE = "transaction id already sent in another branch file"


def day_transactions(
    ingested: list[Ingested],
) -> tuple[pa.Table, pa.Table, list[Ingested]]:
    """The day's TXN records of the province: (kept, REJECT of cross-file duplicates, files).

    A transaction id sent by two branch files of the province is kept at its first
    occurrence and set aside at the others, like a customer or account number.
    """
    files = txn_records(ingested)
    parts = []
    for r in files:
        table = pq.read_table(r["staged"])
        n = table.num_rows
        table = table.select([*TXN_STAGED, "line"])
        table = table.append_column("source", pa.array([r["system"]] * n, pa.string()))
        table = table.append_column("file", pa.array([r["file"]] * n, pa.string()))
        table = table.append_column("branch", pa.array([r["branch"]] * n, pa.string()))
        parts.append(table)
    if not parts:
        return pa.table({}), REJECT.empty_table(), files
    txns = pa.concat_tables(parts, promote_options="permissive")
    first = pa.array(first_occurrence(txns, ["source", "txn_id"]))
    dups = txns.filter(pc.invert(first))
    n = dups.num_rows
    rejects = reject_rows(
        dups.column("line").cast(pa.int64()), _DUPLICATE,
        file=dups.column("file"), branch=dups.column("branch"),
    )  # fmt: skip
    return txns.filter(first), quote_raw_lines(rejects, staged_files(files, "txn")), files


def crm_transactions(
    warehouse: Warehouse,
    province: str,
    business_date: date,
    txns: pa.Table,
    txn_files: list[Ingested],
    set_aside_late: dict[str, int],
) -> tuple[pa.Table, list[FileCounts]]:
    """The day's transactions of CRM customers' accounts (TXN_ROWS), and the TXN files'
    reconciled counts.

    A transaction is kept when its account is a CRM customer's account in the warehouse
    (just published, so it includes the day's new CRM customers); the others are counted
    as filtered.
    """
    if txns.num_rows:
        ids = crm_account_ids(warehouse.engine, province, txns)
        kept = joined(txns, ids, ["source", "acct_no"]).sort_by(
            [("file", "ascending"), ("line", "ascending")]
        )
    else:
        kept = txns
    counts = count_by_file(kept)
    filtered = {
        r["file"]: r["read"] - r["set_aside"] - set_aside_late.get(r["file"], 0)
        - counts.get(r["file"], 0)
        for r in txn_files
    }  # fmt: skip
    files = reconciled_counts(txn_files, counts, set_aside_late, filtered, {})
    n = kept.num_rows
    if not n:
        return TXN_ROWS.empty_table(), files
    rows = pa.table(
        {
            "source": kept.column("source"),
            "txn_id": kept.column("txn_id"),
            "acct_no": kept.column("acct_no"),
            "crm_cust_id": kept.column("crm_cust_id"),
            "business_date": pa.array([business_date] * n, pa.date32()),
            **{name: kept.column(name) for name in TXN_ROWS.names[5:]},
        }
    )
    return rows, files


def load_transactions(
    ctx: RunContext,
    warehouse: Warehouse,
    province: str,
    batch_id: int,
    ingested: list[Ingested],
) -> list[FileCounts]:
    """Load the day's CRM transactions (after the batch, whose CRM accounts they need)."""
    txns, dup_rejects, txn_files = day_transactions(ingested)
    late = count_by_file(dup_rejects)
    rows, files = crm_transactions(warehouse, province, ctx.day, txns, txn_files, late)
    publish_transactions(
        warehouse.engine,
        province=province,
        business_date=ctx.day,
        batch_id=batch_id,
        txns=rows,
        files=files,
        chunk_rows=warehouse.chunk_rows,
        on_chunk=lambda stream, chunk: crash_point(f"load:{stream}:{chunk}"),
    )
    log.info("%s %s: %d transactions of CRM customers loaded", province, ctx.business_date,
             rows.num_rows)  # fmt: skip
    return files
