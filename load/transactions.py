"""A day's transaction details of CRM customers: find their customers, stage, publish.

`publish_transactions` is the same two-phase write as a batch's: the details are staged
in `stg_txn` in checkpointed chunks (load.bulk), then published into `crm_txn` in one
transaction that also records the TXN files' counts and marks the day complete in
`crm_txn_load` (see load.business_dates for the queries over it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

import pyarrow as pa
from sqlalchemy import Engine, String, delete, insert, literal, select

from common.batch import FileCounts
from load.batches import record_file_counts
from load.bulk import stage
from load.control import now
from load.sql import chunks, one_of
from load.tables import crm_account, crm_file_count, crm_txn, crm_txn_load, stg_txn


def crm_account_ids(engine: Engine, province: str, accounts: pa.Table) -> pa.Table:
    """(source, acct_no, crm_cust_id) of those `accounts` that are CRM customers' accounts.

    `accounts` has `source` and `acct_no`; only the distinct pairs are looked up, in IN
    lists of a bounded size (PostgreSQL: one array per source, load.sql.one_of), so a province of millions
    of accounts is never read whole.
    """
    found: list[tuple[str, str, int]] = []
    pairs = accounts.select(["source", "acct_no"]).group_by(["source", "acct_no"]).aggregate([])
    by_source: dict[str, list[str]] = {}
    for source, acct_no in zip(
        pairs.column("source").to_pylist(), pairs.column("acct_no").to_pylist(), strict=True
    ):
        by_source.setdefault(source, []).append(acct_no)
    with engine.connect() as conn:
        for source, numbers in sorted(by_source.items()):
            for chunk in chunks(engine, numbers):
                rows = conn.execute(
                    select(crm_account.c.acct_no, crm_account.c.crm_cust_id).where(
                        crm_account.c.province == province,
                        crm_account.c.source == source,
                        one_of(engine, crm_account.c.acct_no, chunk, String()),
                    )
                ).all()
                found += [(source, row[0], int(row[1])) for row in rows]
    return pa.table(
        {
            "source": pa.array([f[0] for f in found], pa.string()),
            "acct_no": pa.array([f[1] for f in found], pa.string()),
            "crm_cust_id": pa.array([f[2] for f in found], pa.int64()),
        }
    )


def publish_transactions(
    engine: Engine,
    *,
    province: str,
    business_date: date,
    batch_id: int,
    txns: pa.Table,
    files: Iterable[FileCounts],
    chunk_rows: int,
    on_chunk: Callable[[str, int], None] | None = None,
) -> int:
    """Stage a day's CRM transactions in checkpointed chunks, then publish them at once.

    `txns` has the columns of `stg_txn` except `batch_id`. The publication (one
    transaction) replaces the province's details of `business_date`, records the TXN
    files' counts with the day's batch, and marks the day's details complete in
    `crm_txn_load`. A crash before it leaves the staged chunks for the restart (which
    skips the committed ones); a crash after it leaves nothing to redo.
    """
    staged = stage(
        engine, stg_txn, txns, batch_id=batch_id, chunk_rows=chunk_rows, on_chunk=on_chunk
    )
    files = list(files)
    columns = [c.name for c in crm_txn.columns if c.name != "province"]
    with engine.begin() as conn:
        conn.execute(
            delete(crm_txn).where(
                crm_txn.c.province == province, crm_txn.c.business_date == business_date
            )
        )
        conn.execute(
            insert(crm_txn).from_select(
                ["province", *columns],
                select(
                    literal(province, String(8)).label("province"),
                    *[stg_txn.c[c] for c in columns],
                ).where(stg_txn.c.batch_id == batch_id),
            )
        )
        if files:
            conn.execute(
                delete(crm_file_count).where(
                    crm_file_count.c.batch_id == batch_id,
                    crm_file_count.c.file.in_([f.file for f in files]),
                )
            )
            record_file_counts(conn, batch_id, files)
        conn.execute(
            delete(crm_txn_load).where(
                crm_txn_load.c.province == province,
                crm_txn_load.c.business_date == business_date,
            )
        )
        conn.execute(
            insert(crm_txn_load).values(
                province=province,
                business_date=business_date,
                batch_id=batch_id,
                read=sum(f.read for f in files),
                kept=sum(f.kept for f in files),
                set_aside=sum(f.set_aside for f in files),
                filtered=sum(f.filtered for f in files),
                loaded_at=now(),
            )
        )
        conn.execute(delete(stg_txn).where(stg_txn.c.batch_id == batch_id))
    return staged.rows
