"""The merged customers a day touched, merged and scored again from the new state.

Only the records of the identities the day touched are merged (`touched`: they merge
alone exactly as in the province), and only their accounts scored; a customer whose every
record is gone stays a CRM customer, with no records and score 0.00.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from common.schema import CUSTOMER_SCORE, MERGED_CUSTOMER, MONEY, conform
from crm_pipeline.daily.inputs import CUSTOMER_KEY
from transform.changes import composite_key, joined
from transform.merge import merge_customers
from transform.scoring import ProvinceFormulas

# Columns of the batch's customer table: the merged customer and its score.
SCORED = pa.schema([*MERGED_CUSTOMER, *(f for f in CUSTOMER_SCORE if f.name != "cust_key")])


def gone_customers(
    old_merged: pa.Table, new_keys: pa.Array, formula_ids: dict[str, str]
) -> pa.Table:
    """Merged customers of the touched identities' old records that their new records no
    longer give (every record deleted or moved away today).

    They stay CRM customers (never deleted) with no source records, score 0.00 and
    `qualified` false; their last master's name and identity are kept. Publishing them
    removes their source, contact and account rows from the CRM tables.
    """
    merged = old_merged.filter(
        pc.invert(pc.is_in(old_merged.column("cust_key"), value_set=new_keys))
    )
    n = merged.num_rows
    if n == 0:
        return SCORED.empty_table()
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
    old_links: pa.Table  # CUSTOMER_LINK of the records before the day (`old_records`)
    accounts: pa.Table  # their accounts with `cust_key` and `cust_type` (the scoring input)
    scores: pa.Table  # CUSTOMER_SCORE of those still alive
    customers: pa.Table  # SCORED: alive and gone, by cust_key


def rescore(
    old_records: pa.Table,
    records: pa.Table,
    accounts: pa.Table,
    formulas: ProvinceFormulas,
    priority: Sequence[str],
) -> Rescored:
    """Merge the touched identities' records of the new state (`records`; `old_records`
    their records before the day), score them on their `accounts` (STATE_ACCOUNT, at least
    those of `records`), and add the merged customers that are gone (SCORED)."""
    merged, links = merge_customers(records, priority)
    old_merged, old_links = merge_customers(old_records, priority)
    gone = gone_customers(old_merged, merged.column("cust_key"), formulas.formula_ids)
    record_ids = composite_key(records, CUSTOMER_KEY)
    mine = pc.is_in(composite_key(accounts, CUSTOMER_KEY), value_set=record_ids)
    keyed = joined(accounts.filter(mine), links.select(["source", "cust_no", "cust_key"]),
                   ["source", "cust_no"])  # fmt: skip
    keyed = joined(keyed, merged.select(["cust_key", "cust_type"]), "cust_key")
    scores = formulas.score(keyed, merged)
    scored = joined(merged, scores, "cust_key")
    out = pa.concat_tables([conform(scored, SCORED), conform(gone, SCORED)]).sort_by("cust_key")
    return Rescored(records, merged, links, old_links, keyed, scores, out)
