"""The merged customers a day touched, merged and scored again from the new state.

Only the touched customers' records are merged (a merged customer depends on its own
records only), and only their accounts scored; a customer whose every record is gone stays
a CRM customer, with no records and score 0.00.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from common.schema import CUSTOMER_SCORE, MERGED_CUSTOMER, MONEY, conform
from crm_pipeline.daily.inputs import CUSTOMER_KEY
from transform.changes import composite_key
from transform.merge import merge_customers
from transform.scoring import ProvinceFormulas

log = logging.getLogger(__name__)

# Columns of the batch's customer table: the merged customer and its score.
SCORED = pa.schema([*MERGED_CUSTOMER, *(f for f in CUSTOMER_SCORE if f.name != "cust_key")])


def merge_subset(
    customers: pa.Table, keys: pa.Array, wanted: pa.Array, priority: Sequence[str]
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Merge only the records of the `wanted` keys: (records, MERGED_CUSTOMER, links).

    A merged customer depends only on its own records, so merging the subset gives the
    same rows as merging the province, except in one case: an organization code embedded
    by two credit codes of which the subset holds one. The keys the subset's merge gives
    are therefore compared with the province's, and on any difference the province is
    merged whole (correct, only slower).
    """
    mask = pc.is_in(keys, value_set=wanted)
    subset = customers.filter(mask)
    merged, links = merge_customers(subset, priority)
    if pc.all(pc.equal(links.column("cust_key"), pc.filter(keys, mask))).as_py() is not False:
        return subset, merged, links
    log.info("subset merge disagrees with the province's keys: merging the province")
    merged, links = merge_customers(customers, priority)
    keep = pc.is_in(merged.column("cust_key"), value_set=wanted)
    link_keep = pc.is_in(links.column("cust_key"), value_set=wanted)
    return customers.filter(link_keep), merged.filter(keep), links.filter(link_keep)


def gone_customers(
    old_customers: pa.Table,
    old_keys: pa.Array,
    gone: pa.Array,
    priority: Sequence[str],
    formula_ids: dict[str, str],
) -> pa.Table:
    """Merged customers whose every record was deleted or moved away today.

    They stay CRM customers (never deleted) with no source records, score 0.00 and
    `qualified` false; their last master's name and identity are kept. Publishing them
    removes their source, contact and account rows from the CRM tables.
    """
    if len(gone) == 0:
        return SCORED.empty_table()
    _, merged, _ = merge_subset(old_customers, old_keys, gone, priority)
    n = merged.num_rows
    cust_type = merged.column("cust_type").to_pylist()
    return conform(
        merged.drop_columns(["source_count"])
        .append_column("source_count", pa.array([0] * n, pa.int32()))
        .append_column("score", pa.array([Decimal("0.00")] * n, MONEY))
        .append_column("qualified", pa.array([False] * n, pa.bool_()))
        .append_column(
            "formula_id", pa.array([formula_ids.get(t, "") for t in cust_type], pa.string())
        ),
        SCORED,
    )


@dataclass(frozen=True)
class Rescored:
    """The touched customers, merged and scored: the daily batch's customer tables."""

    records: pa.Table  # their source records (SOURCE_CUSTOMER)
    merged: pa.Table  # MERGED_CUSTOMER of those still alive
    links: pa.Table  # CUSTOMER_LINK
    accounts: pa.Table  # their accounts with `cust_key` and `cust_type` (the scoring input)
    scores: pa.Table  # CUSTOMER_SCORE of those still alive
    customers: pa.Table  # SCORED: alive and gone, by cust_key


def rescore(
    customers: pa.Table,
    keys: pa.Array,
    wanted: pa.Array,
    accounts: pa.Table,
    formulas: ProvinceFormulas,
    priority: Sequence[str],
    gone: pa.Table,
) -> Rescored:
    """Merge the `wanted` keys' records of the new state (`customers`, whose merge keys are
    `keys`), score them on their `accounts`, and add the `gone` customers (SCORED)."""
    records, merged, links = merge_subset(customers, keys, wanted, priority)
    record_ids = composite_key(records, CUSTOMER_KEY)
    mine = pc.is_in(composite_key(accounts, CUSTOMER_KEY), value_set=record_ids)
    keyed = accounts.filter(mine).join(
        links.select(["source", "cust_no", "cust_key"]),
        keys=["source", "cust_no"],
        join_type="inner",
    )
    keyed = keyed.join(merged.select(["cust_key", "cust_type"]), keys="cust_key")
    scores = formulas.score(keyed, merged)
    scored = merged.join(scores, keys="cust_key")
    out = pa.concat_tables([conform(scored, SCORED), conform(gone, SCORED)]).sort_by("cust_key")
    return Rescored(records, merged, links, keyed, scores, out)
