"""Whether a daily batch can be published by its marked rows: it marks them against the
previous date, and the CRM still holds that date as the province's newest publication.

Asked twice: when its rows are staged (a batch that can be is staged by its changes only,
load.customer_scope.row_scope) and when it is published (load.publish), where the answer
may have changed meanwhile.
"""

from __future__ import annotations

import json
import logging
import re

from sqlalchemy import Connection, select

from common.batch import ProvinceBatch
from load.batches import BatchKey, published_batch
from load.tables import PUBLISHED, crm_load_batch

log = logging.getLogger(__name__)


def by_delta(conn: Connection, batch: ProvinceBatch) -> bool:
    """Whether the batch is published by its marked rows: it marks them, no batch of its
    (date, province, mode) is published (a batch replacing one is published whole), and
    the CRM holds the date it was computed from."""
    key = BatchKey(batch.business_date, batch.province, batch.mode)
    return marks_rows(batch) and published_batch(conn, key) is None and holds_basis(conn, batch)


def marks_rows(batch: ProvinceBatch) -> bool:
    """Whether the batch's rows are marked against the previous date (a daily batch of this
    code: crm_pipeline.daily.delta)."""
    tables = (batch.links, batch.source_customers, batch.accounts)
    return batch.mode == "daily" and all("delta" in t.column_names for t in tables)


def holds_basis(conn: Connection, batch: ProvinceBatch) -> bool:
    """Whether the province's newest published batch is the one the daily batch was
    computed from (the `basis` of its inputs, crm_pipeline.run_identity)."""
    try:
        basis = str(json.loads(batch.inputs).get("basis", "")) if batch.inputs else ""
    except ValueError:
        basis = ""
    found = re.fullmatch(r"\d{8} batch (\d+)", basis)
    if found is None:
        return False
    c = crm_load_batch.c
    newest = conn.execute(
        select(c.batch_id)
        .where(c.province == batch.province, c.status == PUBLISHED)
        .order_by(c.business_date.desc(), c.batch_id.desc())
        .limit(1)
    ).scalar()
    if newest != int(found.group(1)):
        log.warning(
            "%s %s: computed from %s, but the newest published batch is %s: published whole",
            batch.province, batch.business_date, basis, newest,
        )  # fmt: skip
        return False
    return True
