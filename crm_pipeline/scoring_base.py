"""The customer base a formula is scored on: a province's merged customers and their accounts
keyed to them, as of a business date, whichever kind of run produced that date.

An initial load's date has its scoring input staged bucket by bucket (the score step's
inputs, read back). Any published date, daily ones included, has a state snapshot: its
source customers are merged whole and its accounts keyed to them, as the daily run and the
merge/score buckets do (`transform.merge.merge_customers`, `crm_pipeline.buckets.keyed_accounts`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from common import config as cfg
from common.intermediate import read_table
from common.staging import StagingArea
from crm_pipeline.buckets import keyed_accounts, source_key
from crm_pipeline.state import read_state
from transform.merge import merge_customers
from transform.partition import identity_keys


class ScoringBase(NamedTuple):
    accounts: pa.Table  # accounts with cust_key and cust_type (the score step's input)
    customers: pa.Table  # MERGED_CUSTOMER
    source: str  # where it came from, for the report: "initial buckets" | "state snapshot"


def scoring_base(
    area: StagingArea, province: str, business_date: str, mode: str | None = None
) -> ScoringBase | None:
    """The province's base on the date; None when the staging area holds none.

    `mode` "initial" takes only an initial load's staged buckets, "daily" only the state
    snapshot; by default the buckets when there are, else the snapshot.
    """
    if mode in (None, "initial"):
        run = area.run(business_date, province, "initial")
        accounts, merged = run.existing_buckets("scoring_input"), run.existing_buckets("merged")
        if accounts and merged:
            return ScoringBase(
                pa.concat_tables(read_table(p) for p in accounts),
                pa.concat_tables(read_table(p) for p in merged),
                "initial buckets",
            )
    if mode in (None, "daily") and area.store.is_dir(area.state_dir(province, business_date)):
        day = datetime.strptime(business_date, "%Y%m%d").date()
        customers, state_accounts = read_state(area, province, day)
        merged_table, links = merge_customers(customers, tuple(cfg.provinces().source_priority))
        return ScoringBase(
            keyed_accounts(state_accounts, links, merged_table), merged_table, "state snapshot"
        )
    return None


class CustomerBase(NamedTuple):
    """Some customers' part of a date's base, with the source records behind them."""

    accounts: pa.Table  # their accounts (the state's columns) with cust_key and cust_type
    customers: pa.Table  # MERGED_CUSTOMER
    links: pa.Table  # CUSTOMER_LINK of their source records
    sources: pa.Table  # SOURCE_CUSTOMER: their source records as the state holds them


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def customer_base(
    area: StagingArea, province: str, business_date: date, probe: pa.Table
) -> CustomerBase:
    """The part of the date's state snapshot that can merge with the records of `probe`
    (SOURCE_CUSTOMER columns cust_type, id_type, id_no, source, cust_no: a number to look
    for), merged and keyed as the whole province is (`scoring_base`).

    Records merge only within one identity key (`transform.partition.identity_keys`, the
    initial load's buckets rely on it), so the customers found, their links and accounts
    are exactly those of merging and keying the whole state, without doing it.
    """
    customers, state_accounts = read_state(area, province, business_date)
    wanted = pc.is_in(identity_keys(customers), value_set=_array(identity_keys(probe)))
    sources = customers.filter(wanted)
    merged, links = merge_customers(sources, tuple(cfg.provinces().source_priority))
    mine = pc.is_in(source_key(state_accounts, "cust_no"), value_set=source_key(links, "cust_no"))
    accounts = keyed_accounts(state_accounts.filter(mine), links, merged)
    return CustomerBase(accounts, merged, links, sources)


def provinces_with_base(area: StagingArea, business_date: str) -> list[str]:
    """Every province with a base on the date (staged buckets or a state snapshot)."""
    return sorted(
        set(area.provinces_staged(business_date)) | set(area.provinces_with_state(business_date))
    )
