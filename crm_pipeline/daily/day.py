"""One business date computed from the previous state: the new state and the daily batch.

Nothing is written here: `compute_day` reads the previous state snapshot and the day's
staged files, and returns what the `apply` step writes (the batch's tables and the new
state snapshot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common import config as cfg
from common.batch import FileCounts, ProvinceBatch
from common.paths import formulas_dir
from common.schema import REJECT, conform
from crm_pipeline.context import RunContext
from crm_pipeline.daily.apply import (
    account_change_owners,
    apply_account_changes,
    apply_customer_changes,
    known_customers,
)
from crm_pipeline.daily.delta import ACCOUNT_VALUES, marked_tables
from crm_pipeline.daily.inputs import ACCOUNT_KEY, CUSTOMER_KEY, change_records
from crm_pipeline.daily.rescore import rescore
from crm_pipeline.daily.revalue import revalue
from crm_pipeline.daily.touched import account_owners, touched_records
from crm_pipeline.daily.transactions import day_transactions
from crm_pipeline.ingest_step import Ingested, staged_files
from crm_pipeline.reconcile import count_by_file, reconciled_counts
from crm_pipeline.state import (
    STATE_ACCOUNT,
    StateLayer,
    read_currency_totals,
    read_live_state,
    read_rates,
    yyyymmdd,
)
from transform.changes import Applied, composite_key, rows_with_keys, selected
from transform.currency_totals import carried_sums
from transform.key_index import KeyIndex
from transform.scoring import ProvinceFormulas, load_formulas

log = logging.getLogger(__name__)

# The columns of a state account the CRM tables are written from (load.prepare), all the
# marks compare and a removed row carries (crm_pipeline.daily.delta).
PUBLISHED_ACCOUNT = [*ACCOUNT_KEY, *(c for c in ACCOUNT_VALUES if c != "cust_key")]


@dataclass
class DayResult:
    """Everything a daily run computes before it writes anything."""

    customers: Applied  # new state, SOURCE_CUSTOMER (`.table`, built only if asked for)
    accounts: Applied  # new state, STATE_ACCOUNT (idem)
    layers: dict[str, StateLayer]  # what the day changed in each state table
    currency_totals: pa.Table | None  # the new state's, carried (None: previous had none)
    batch: ProvinceBatch
    merged: int
    qualified: int


def compute_day(
    ctx: RunContext,
    province: str,
    previous: date,
    ingested: list[Ingested],
    rates: pa.Table,
) -> DayResult:
    """Apply the day's staged change files to the previous state; build the daily batch."""
    formula_set = load_formulas(formulas_dir())
    formulas = formula_set.for_province(province, ctx.day)
    before = formula_set.for_province(province, previous)
    formula_changed = (
        formulas.formula_ids != before.formula_ids or formulas.export_filter != before.export_filter
    )
    priority = cfg.provinces().source_priority
    # The previous state as read from its layers: older versions stay in place, masked.
    state = read_live_state(ctx.area, province, previous)
    customer_state, account_state = state["customers"], state["accounts"]
    old_customers, customer_live = customer_state.table, customer_state.live
    old_accounts, account_live = account_state.table, account_state.live
    customer_index, account_index = customer_state.indexes, account_state.indexes

    # Customers first: a day's accounts may belong to a customer it adds.
    customer_changes, customers = apply_customer_changes(
        old_customers, staged_files(ingested, "customer"), customer_live,
        customer_index.get("key"),
    )  # fmt: skip
    revalued, moved = revalue(
        old_accounts, rates, formulas.export_filter,
        read_rates(ctx.area, province, previous) if not formula_changed else None,
    )  # fmt: skip
    if account_live is not None:
        moved = pc.and_(moved, account_live)
    account_files = staged_files(ingested, "account")
    known = known_customers(
        customers, account_change_owners(account_files), customer_index.get("key")
    )
    account_changes, accounts = apply_account_changes(
        old_accounts, revalued, account_files, known, rates, formulas.export_filter,
        account_live, account_index.get("key"),
    )  # fmt: skip

    if formula_changed:  # every customer's score may move: the province is merged again
        old_records = _live(old_customers, customer_live)
        records, state_accounts = customers.table, accounts.table
        previous_accounts = _live(old_accounts.select(PUBLISHED_ACCOUNT), account_live)
    else:
        touched = touched_records(
            customers, account_owners(accounts, revalued, moved), customer_index
        )
        records, old_records = touched.new, touched.old
        state_accounts, previous_accounts = _accounts_of(
            accounts, old_accounts, account_live, records, old_records,
            account_index.get("owner"), _scored_columns(formulas),
        )  # fmt: skip
    scored_schema = pa.schema([f for f in STATE_ACCOUNT if f.name in state_accounts.column_names])
    rescored = rescore(old_records, records, conform(state_accounts, scored_schema), formulas,
                       priority)  # fmt: skip
    # Each row marked as the previous date had it or not: the publication writes the
    # changed and removed ones of the customers already in the CRM (daily.delta).
    links, source_customers, batch_accounts = marked_tables(
        rescored.links, rescored.old_links, rescored.records, old_records,
        rescored.accounts, previous_accounts,
    )  # fmt: skip
    gone = rescored.customers.num_rows - rescored.merged.num_rows

    _, txn_rejects, _ = day_transactions(ingested)
    rejects = pa.concat_tables(
        [pq.read_table(r["rejects"]).cast(REJECT) for r in ingested]
        + [
            customer_changes.rejects.cast(REJECT),
            account_changes.rejects.cast(REJECT),
            txn_rejects,
        ]
    )
    files = _change_file_counts(
        ingested,
        [customer_changes.rejects, account_changes.rejects],
        [customers.applied, accounts.applied],
        {**customer_changes.ignored, **account_changes.ignored},
        customers.applied,
    )
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode="daily",
        customers=rescored.customers,
        links=links,
        source_customers=source_customers,
        accounts=batch_accounts,
        rejects=rejects,
        files=files,
        formula_ids=formulas.formula_ids,
    )
    qualified = pc.sum(rescored.scores.column("qualified").cast(pa.int64())).as_py() or 0
    log.info(
        "%s %s: %d customer and %d account changes applied, %d merged customers re-scored "
        "(%d qualify), %d no longer exist",
        province,
        ctx.business_date,
        customers.applied.num_rows,
        accounts.applied.num_rows,
        rescored.merged.num_rows,
        qualified,
        gone,
    )
    moved_kept = pc.and_(moved, accounts.kept)
    layers = {
        "customers": state_layer(customers, CUSTOMER_KEY),
        "accounts": state_layer(accounts, ACCOUNT_KEY, selected(revalued, moved_kept)),
    }
    totals = read_currency_totals(ctx.area, province, yyyymmdd(previous))
    if totals is not None:  # less the previous rows the layer hides, as they were
        replaced = pc.invert(accounts.kept)
        hidden = pc.or_(replaced if account_live is None else pc.and_(replaced, account_live),
                        moved_kept)  # fmt: skip
        totals = carried_sums(totals, selected(old_accounts, hidden), layers["accounts"].written)
    return DayResult(
        customers, accounts, layers, totals, batch, rescored.merged.num_rows, qualified
    )


def _live(table: pa.Table, live: pa.Array | None) -> pa.Table:
    return table if live is None else table.filter(live)


def _scored_columns(formulas: ProvinceFormulas) -> list[str]:
    """The state account columns a night reads of the touched customers' accounts: what
    their scoring reads and what their publication writes and marks compare, about half of
    the state's columns (the layer takes whole rows of the changed accounts only). Picking
    3 % of a snapshot's rows touches nearly every page of each column picked: with the
    snapshot out of the page cache, each column left out is one less read from disk."""
    names = STATE_ACCOUNT.names
    wanted = {*PUBLISHED_ACCOUNT, *CUSTOMER_KEY, *formulas.account_columns(names)}
    return [name for name in names if name in wanted]


def _accounts_of(
    accounts: Applied,
    old_accounts: pa.Table,
    live: pa.Array | None,
    records: pa.Table,
    old_records: pa.Table,
    owner_index: KeyIndex | None = None,
    columns: Sequence[str] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(the new state's accounts of `records`, only their `columns` if given; the previous
    date's accounts of `old_records`), by one probe of the province's owner column for both
    (only those rows are copied; with the owner index, searched). `old_accounts` is the
    previous state before revaluation, row for row `accounts.old`: what the previous date
    published."""
    owners = pa.concat_tables([records.select(CUSTOMER_KEY), old_records.select(CUSTOMER_KEY)])
    in_old = rows_with_keys(accounts.old, CUSTOMER_KEY, owners, owner_index)
    new = accounts.where(in_old, rows_with_keys(accounts.written, CUSTOMER_KEY, owners), columns)
    published = [c for c in old_accounts.column_names if c in PUBLISHED_ACCOUNT]
    before = selected(
        old_accounts.select(published), in_old if live is None else pc.and_(in_old, live)
    )
    mine = rows_with_keys(before, CUSTOMER_KEY, old_records.select(CUSTOMER_KEY))
    return new, before.filter(mine)


def state_layer(applied: Applied, key: list[str], moved: pa.Table | None = None) -> StateLayer:
    """The rows a change list wrote (after the revalued rows it left alone, if any) and the
    keys it removed: the day's layer of one state table (`crm_pipeline.state`)."""
    schema = applied.old.schema
    written = applied.written
    if moved is not None:
        written = pa.concat_tables([conform(moved, schema), written])
    written_keys = composite_key(written, key)
    replaced = applied.replaced.select(key)
    removed = replaced.filter(
        pc.invert(pc.is_in(composite_key(replaced, key), value_set=written_keys))
    )
    return StateLayer(written.combine_chunks(), removed.combine_chunks())


def _file_column(table: pa.Table) -> pa.Table:
    return table.select(["file"]).cast(pa.schema([("file", pa.string())]))


def _change_file_counts(
    ingested: list[Ingested],
    late_rejects: list[pa.Table],
    applied: list[pa.Table],
    ignored: dict[str, int],
    customers_applied: pa.Table,
) -> list[FileCounts]:
    """FileCounts of the change files, reconciled (TXN files are counted once their details
    load)."""
    late = count_by_file(pa.concat_tables([_file_column(r) for r in late_rejects]))
    kept = count_by_file(pa.concat_tables([_file_column(a) for a in applied]))
    flagged = count_by_file(
        customers_applied.filter(pc.invert(customers_applied.column("id_valid")))
    )
    return reconciled_counts(change_records(ingested), kept, late, ignored, flagged)
