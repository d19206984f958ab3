"""The daily incremental run of one province (issue 7): change lists onto the state, then CRM.

After the initial load the core systems send only what changed (core-dumps.md section 8).
A daily run for business date D:

1. finds the previous business date P (the newest date of the province published before
   D) and refuses to run when a day between P and D was begun or landed but is not
   published, or when a later day is already published: days must be applied in order;
2. ingests the day's files with the same parse/type/ingest code as the initial load
   (`StepLog` restart points, change layouts from `layouts().layout_for(sys, "CUSTCHG")`);
3. applies `CUSTCHG`, then `ACCTCHG`/`HOLDCHG` (the day's customers first, so an account
   may belong to a customer who arrives the same day) to P's state snapshot
   (`transform.changes`), and brings every account's CNY equivalents and export-filter
   scope to D's rates;
4. re-merges and re-scores only the merged customers the day touched (see `Touched`),
   publishes them as a `daily` batch (new qualifying customers are added, the others
   are updated, `qualified` false when under the threshold, never deleted) and writes D's
   state snapshot;
5. loads the day's transactions of CRM customers' accounts into `crm_txn`.

Reconciliation is that of the initial load, per file: read = kept + set aside + filtered,
where *filtered* counts a `D` of an unknown key (ignored, core-dumps.md section 8) and, in
`TXN` files, a transaction of an account that is not a CRM customer's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common import config as cfg
from common.batch import FileCounts, ProvinceBatch
from common.errors import PipelineError
from common.paths import formulas_dir
from common.schema import (
    CUSTOMER_SCORE,
    MERGED_CUSTOMER,
    MONEY,
    REJECT,
    SOURCE_ACCOUNT,
    SOURCE_CUSTOMER,
    conform,
)
from crm_pipeline.runner import (
    ProvinceSteps,
    ProvinceSummary,
    RunContext,
    check_reconciled,
    count_by_file,
    crash_point,
    ingest_files,
    landed_files,
    province_warehouse,
    reconciled_counts,
    record_run,
    run_load_step,
    state_dir,
)
from transform.changes import ACTION, DELETE, Applied, apply_changes, composite_key, known_keys
from transform.conform import (
    StagedFile,
    conform_accounts,
    conform_customers,
    under_export_filter,
)
from transform.fx import CNY_EXACT, to_cny, with_rates
from transform.ingest import raw_lines
from transform.merge import merge_customers, resolve_keys

log = logging.getLogger(__name__)

CUSTOMER_KEY = ["source", "cust_no"]
ACCOUNT_KEY = ["source", "acct_no"]
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
_CNY_COLUMNS = ("balance_cny", "overdraft_cny", "overdue_balance_cny")
_CNY_SOURCES = {"balance_cny": "balance", "overdraft_cny": "overdraft",
                "overdue_balance_cny": "overdue_balance"}  # fmt: skip
TXN_STAGED = ["txn_id", "acct_no", "txn_date", "txn_time", "dc", "amount", "currency",
              "channel", "balance_after", "memo"]  # fmt: skip


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


# --- 1. the previous business date ---------------------------------------------------------


def _landed_days(landing: Path, province: str, after: date, before: date) -> list[date]:
    """Business dates strictly between the two with a folder of one of the province's
    branches in the landing zone: days that were sent, hence must be applied first."""
    branches = set(cfg.provinces().branches_of(province))
    found = []
    if not landing.is_dir():
        return []
    for folder in landing.iterdir():
        if not (folder.is_dir() and len(folder.name) == 8 and folder.name.isdigit()):
            continue
        try:
            day = datetime.strptime(folder.name, "%Y%m%d").date()
        except ValueError:
            continue
        if after < day < before and any((folder / b).is_dir() for b in branches):
            found.append(day)
    return sorted(found)


def previous_business_date(engine: Any, landing: Path, province: str, day: date) -> date:
    """The date whose state snapshot a daily run of `day` starts from; PipelineError if
    the days in between are not all applied (a missing or unpublished earlier day)."""
    from load import business_dates as wtxn

    published = wtxn.published_dates(engine, province)
    later = [d for d in published if d > day]
    if later:
        raise PipelineError(
            f"business date {_yyyymmdd(later[-1])} is already published; a daily "
            f"run for {_yyyymmdd(day)} would apply the days out of order"
        )
    before = [d for d in published if d < day]
    if not before:
        raise PipelineError(
            f"no published business date before {_yyyymmdd(day)}: "
            "run the initial load (and every daily run since) first"
        )
    previous = before[-1]
    gaps = sorted(
        set(wtxn.attempted_dates(engine, province, previous, day))
        | set(_landed_days(landing, province, previous, day))
    )
    if gaps:
        raise PipelineError(
            f"business date {_yyyymmdd(gaps[0])} is not published (the last "
            f"published one is {_yyyymmdd(previous)}); days must be applied in order: "
            f"run {_yyyymmdd(gaps[0])} first"
        )
    return previous


def _read_snapshot(folder: Path, name: str) -> pa.Table | None:
    """One table of a state snapshot: Arrow IPC, or Parquet (initial loads of earlier
    versions wrote a Parquet copy, and before that only Parquet)."""
    arrow, parquet = folder / f"{name}.arrow", folder / f"{name}.parquet"
    if arrow.exists():
        return pa.ipc.open_file(pa.memory_map(str(arrow))).read_all()
    if parquet.exists():
        return pq.read_table(parquet)
    return None


def read_state(staging: Path, province: str, business_date: date) -> tuple[pa.Table, pa.Table]:
    """The province's customers and accounts as of a published business date."""
    folder = state_dir(staging, province, _yyyymmdd(business_date))
    customers = _read_snapshot(folder, "customers")
    accounts = _read_snapshot(folder, "accounts")
    if customers is None or accounts is None:
        raise PipelineError(
            f"the state snapshot of {_yyyymmdd(business_date)} is missing "
            f"({folder}); it is written by that date's load and a daily run starts from it"
        )
    return conform(customers, SOURCE_CUSTOMER), conform(accounts, STATE_ACCOUNT)


def read_state_accounts(staging: Path, province: str, business_date: date) -> pa.Table | None:
    """The accounts of a state snapshot (for statements), None if there is none."""
    return _read_snapshot(state_dir(staging, province, _yyyymmdd(business_date)), "accounts")


def write_daily_state(
    staging: Path, province: str, business_date: str, customers: pa.Table, accounts: pa.Table
) -> list[Path]:
    """Write a daily run's state snapshot, atomically, as uncompressed Arrow IPC files.

    The daily run reads yesterday's whole state and writes today's; in Arrow IPC (memory
    mapped when read) that costs a tenth of Parquet, which matters because it is the one
    part of a daily run that grows with the province rather than with the day's changes.
    The layout is `runner.state_dir`'s; `runner.write_state` (the initial load) writes the
    same files, and the Parquet snapshots of earlier initial loads are read too.
    """
    import shutil

    target = state_dir(staging, province, business_date)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    outputs = []
    for name, table in (("customers", customers), ("accounts", accounts)):
        path = tmp / f"{name}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        outputs.append(target / path.name)
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return outputs


# --- 3. the day's changes ---------------------------------------------------------------


def _actions(files: Sequence[StagedFile]) -> pa.Table:
    """(file, line, action, source, key) of every kept change record, in file order."""
    parts = []
    for f in files:
        key = f.layout.key[0]
        staged = pq.read_table(f.staged, columns=["line", ACTION, key])
        n = staged.num_rows
        parts.append(
            pa.table(
                {
                    "file": pa.array([f.source_path.name] * n, pa.string()),
                    "line": staged.column("line").cast(pa.int64()),
                    ACTION: staged.column(ACTION).cast(pa.string()),
                    "source": pa.array([f.system] * n, pa.string()),
                    "key": staged.column(key).cast(pa.string()),
                }
            )
        )
    schema = pa.schema(
        [("file", pa.string()), ("line", pa.int64()), (ACTION, pa.string()),
         ("source", pa.string()), ("key", pa.string())]
    )  # fmt: skip
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _first_in_province(table: pa.Table, key: list[str]) -> pa.Array:
    """Mask of the rows that are the first of their key across the province's files."""
    indexed = table.select(key).append_column("_i", pa.array(np.arange(table.num_rows)))
    first = indexed.group_by(key, use_threads=False).aggregate([("_i", "min")])
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[first.column("_i_min").to_numpy()] = True
    return pa.array(mask)


def _line_ids(table: pa.Table) -> pa.Array:
    return composite_key(table, ["file", "line"])


@dataclass(frozen=True)
class Changes:
    """One kind of change list after validation: what to apply and how it was counted."""

    rows: pa.Table  # conformed change records + `action`, ignored ones left out
    rejects: pa.Table  # REJECT rows added after ingestion (cross-file duplicates, orphans...)
    ignored: dict[str, int]  # file -> `D` of an unknown key


def _split_ignored(
    actions: pa.Table, known: pa.Table, state_key: list[str], kept: pa.Table, rejects: pa.Table
) -> Changes:
    """Separate the ignored `D`s (unknown key) from the applied and the set-aside lines.

    A `D` of an unknown key is ignored whatever else conform said of it (an orphan or a
    currency without a rate does not matter for a record that changes nothing), except a
    key sent by two of the province's files: that line is set aside like any duplicate.
    """
    if actions.num_rows:
        unknown = pc.invert(
            known_keys(composite_key(known, state_key), composite_key(actions, ["source", "key"]))
        )
        first = _first_in_province(actions, ["source", "key"])
        ignored_mask = pc.and_(pc.and_(pc.equal(actions.column(ACTION), DELETE), unknown), first)
        ignored = actions.filter(ignored_mask)
    else:
        ignored = actions
    ignored_ids = _line_ids(ignored)
    kept = kept.filter(pc.invert(pc.is_in(_line_ids(kept), value_set=ignored_ids)))
    rejects = rejects.filter(pc.invert(pc.is_in(_line_ids(rejects), value_set=ignored_ids)))
    with_action = kept.join(
        actions.select(["file", "line", ACTION]), keys=["file", "line"], join_type="inner"
    ).sort_by([("file", "ascending"), ("line", "ascending")])
    return Changes(with_action, rejects, count_by_file(ignored))


def _in_scope(accounts: pa.Table, export_filter: Decimal) -> pa.Array:
    return pc.invert(under_export_filter(accounts, export_filter))


def _state_accounts(table: pa.Table, export_filter: Decimal) -> pa.Table:
    """Accounts with `in_scope` computed for the day's export filter, as STATE_ACCOUNT."""
    if "in_scope" in table.column_names:
        table = table.drop_columns(["in_scope"])
    table = table.append_column("in_scope", _in_scope(table, export_filter))
    return conform(table, STATE_ACCOUNT)


def revalue(
    accounts: pa.Table, rates: pa.Table, export_filter: Decimal
) -> tuple[pa.Table, pa.Array]:
    """The accounts at the day's rates and filter, and which of them moved.

    An account *moved* when one of its CNY equivalents or its scope changed: that, and
    only that, can change its owner's score, so a rate change matters exactly for the
    customers holding a moved account (any change: scores must agree to the fen). CNY
    accounts keep their values (their rate is always 100); only their scope is checked.
    The result keeps the accounts' order; only the three CNY columns and `in_scope` are
    new arrays (the foreign accounts' amounts are valued apart and put back in place),
    the other columns are those of `accounts`, not copied.
    """
    accounts = conform(accounts, STATE_ACCOUNT)
    foreign = pc.not_equal(accounts.column("currency"), "CNY")
    foreign = _array(foreign)
    other = accounts.select(["currency", *_CNY_SOURCES.values(), *_CNY_COLUMNS]).filter(foreign)
    rated = with_rates(other, rates)
    missing = rated.filter(pc.is_null(rated.column("cny_per_100")))
    if missing.num_rows:
        currencies = sorted(set(missing.column("currency").to_pylist()))
        raise PipelineError(
            f"no FX rate for {', '.join(currencies)} on the business date, held by "
            f"{missing.num_rows} account(s) of the state: the FX file must list them"
        )
    moved_other = pa.array(np.zeros(other.num_rows, dtype=bool))
    new = accounts
    for name, source in _CNY_SOURCES.items():
        fresh = _array(to_cny(rated.column(source), rated.column("cny_per_100")))
        moved_other = pc.or_(moved_other, pc.not_equal(fresh, other.column(name)))
        column = pc.replace_with_mask(accounts.column(name).combine_chunks(), foreign, fresh)
        new = new.set_column(new.schema.get_field_index(name), STATE_ACCOUNT.field(name), column)
    in_scope = _array(_in_scope(new, export_filter))
    new = new.set_column(
        new.schema.get_field_index("in_scope"), STATE_ACCOUNT.field("in_scope"), in_scope
    )
    moved = pc.or_(
        _array(pc.not_equal(in_scope, accounts.column("in_scope"))),
        pc.replace_with_mask(pa.array(np.zeros(accounts.num_rows, dtype=bool)), foreign,
                             _array(moved_other)),
    )  # fmt: skip
    return new, moved


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


# --- 4. what the day touched ------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """The merged customers a day touched: those to re-merge and re-score.

    A merged customer is touched when one of its source records was added, updated or
    deleted; when a record's merge key changed (an identification number corrected, or an
    organization code that now resolves to a newly sent credit code), on both sides; when
    one of its accounts was added, changed, closed, removed or moved to another customer
    (old and new owner); and when one of its accounts moved with the day's rates or
    export filter (`revalue`). `keys` are the keys of the new state to re-merge; `gone`
    the keys of the old state that no longer exist (their CRM customer loses its records).
    """

    keys: pa.Array
    gone: pa.Array


def touched_keys(
    old_customers: pa.Table,
    applied: Applied,
    account_owners: pa.Table,
) -> tuple[Touched, pa.Array, pa.Array]:
    """(Touched, old keys aligned with `old_customers`, new keys with `applied.table`).

    `applied` is the customer change list applied to `old_customers`: its table starts
    with the old records it left alone, in their order, so a key that changed without its
    record changing (an organization code resolved anew) is found by comparing the two
    key columns row by row, with no look-up over the province.
    """
    new_customers = applied.table
    old_keys = resolve_keys(old_customers).column("cust_key").combine_chunks()
    new_keys = resolve_keys(new_customers).column("cust_key").combine_chunks()
    assert applied.kept is not None
    before = pc.filter(old_keys, applied.kept)
    after = new_keys.slice(0, applied.untouched)
    rekeyed = pc.not_equal(before, after)
    old_ids = composite_key(old_customers, CUSTOMER_KEY)
    new_ids = composite_key(new_customers, CUSTOMER_KEY)
    changed = composite_key(applied.applied, CUSTOMER_KEY)
    owners = composite_key(account_owners, CUSTOMER_KEY)
    wanted = pc.unique(
        pa.concat_arrays(
            [
                pc.filter(old_keys, pc.is_in(old_ids, value_set=changed)),
                pc.filter(
                    new_keys, pc.is_in(new_ids, value_set=pa.concat_arrays([changed, owners]))
                ),
                pc.filter(before, rekeyed),
                pc.filter(after, rekeyed),
            ]
        )
    )
    alive = pc.unique(pc.filter(new_keys, pc.is_in(new_keys, value_set=wanted)))
    gone = pc.filter(wanted, pc.invert(pc.is_in(wanted, value_set=alive)))
    return Touched(keys=alive, gone=gone), old_keys, new_keys


def _merge_subset(
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


# --- the run -------------------------------------------------------------------------------


@dataclass
class DayResult:
    """Everything a daily run computes before it writes anything."""

    customers: pa.Table  # new state, SOURCE_CUSTOMER
    accounts: pa.Table  # new state, STATE_ACCOUNT
    batch: ProvinceBatch
    txns: pa.Table  # the day's kept TXN records (+ source, file, branch)
    txn_files: list[dict[str, Any]]  # ingestion records of the TXN files
    merged: int
    qualified: int


def _staged_files(ingested: list[dict[str, Any]], role: str) -> list[StagedFile]:
    layouts = cfg.layouts()
    return [
        StagedFile(
            Path(r["path"]),
            Path(r["staged"]),
            layouts.layout_for(r["system"], r["entity"]),
            r["system"],
            r["entity"],
            r["branch"],
        )
        for r in ingested
        if layouts.layout_for(r["system"], r["entity"]).role == role
    ]


def day_transactions(
    ingested: list[dict[str, Any]],
) -> tuple[pa.Table, pa.Table, list[dict[str, Any]]]:
    """The day's TXN records of the province: (kept, REJECT of cross-file duplicates, files).

    A transaction id sent by two branch files of the province is kept at its first
    occurrence and set aside at the others, like a customer or account number.
    """
    files = [r for r in ingested if r["entity"] == "TXN"]
    layouts = cfg.layouts()
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
    first = _first_in_province(txns, ["source", "txn_id"])
    dups = txns.filter(pc.invert(first))
    rejects = []
    for r in files:
        lines = pc.filter(dups.column("line"), pc.equal(dups.column("file"), r["file"]))
        if len(lines) == 0:
            continue
        layout = layouts.layout_for(r["system"], r["entity"])
        raws = raw_lines(Path(r["path"]), set(lines.to_pylist()), layout)
        numbers = lines.to_pylist()
        rejects.append(
            pa.table(
                {
                    "file": [r["file"]] * len(numbers),
                    "line": pa.array(numbers, pa.int64()),
                    "raw": [raws[n] for n in numbers],
                    "reason": ["transaction id already sent in another branch file"] * len(numbers),
                    "field": pa.nulls(len(numbers), pa.string()),
                    "branch": [r["branch"]] * len(numbers),
                },
                schema=REJECT,
            )
        )
    return (
        txns.filter(first),
        pa.concat_tables(rejects) if rejects else REJECT.empty_table(),
        files,
    )


def compute_day(
    ctx: RunContext,
    province: str,
    previous: date,
    ingested: list[dict[str, Any]],
    rates: pa.Table,
) -> DayResult:
    """Apply the day's staged change files to the previous state; build the daily batch."""
    from transform.scoring import load_formulas

    formula_set = load_formulas(formulas_dir())
    formulas = formula_set.for_province(province, ctx.day)
    before = formula_set.for_province(province, previous)
    formula_changed = (
        formulas.formula_ids != before.formula_ids or formulas.export_filter != before.export_filter
    )
    priority = cfg.provinces().source_priority
    old_customers, old_accounts = read_state(ctx.staging, province, previous)

    # Customers first: a day's accounts may belong to a customer it adds.
    customer_files = _staged_files(ingested, "customer")
    conformed = conform_customers(customer_files)
    customer_changes = _split_ignored(
        _actions(customer_files), old_customers, CUSTOMER_KEY, conformed.table,
        conformed.rejects,
    )  # fmt: skip
    applied_customers = apply_changes(
        old_customers, customer_changes.rows, CUSTOMER_KEY, removes=True
    )
    new_customers = applied_customers.table
    known = (
        pa.concat_tables(
            [
                new_customers.select(CUSTOMER_KEY),
                applied_customers.replaced.select(CUSTOMER_KEY),  # deleted today: known still
            ]
        )
        .group_by(CUSTOMER_KEY)
        .aggregate([])
    )

    account_files = _staged_files(ingested, "account")
    conformed_accounts = conform_accounts(account_files, known, rates, None)
    account_actions = _actions(account_files)
    account_changes = _split_ignored(
        account_actions, old_accounts, ACCOUNT_KEY, conformed_accounts.table,
        conformed_accounts.rejects,
    )  # fmt: skip
    revalued, moved = revalue(old_accounts, rates, formulas.export_filter)
    changes = account_changes.rows
    change_rows = _state_accounts(changes.drop_columns([ACTION]), formulas.export_filter)
    change_rows = change_rows.append_column(ACTION, changes.column(ACTION))
    removes = pc.and_(
        pc.equal(change_rows.column(ACTION), DELETE), pc.equal(change_rows.column("source"), "FND")
    )
    applied_accounts = apply_changes(revalued, change_rows, ACCOUNT_KEY, removes)
    new_accounts = conform(applied_accounts.table, STATE_ACCOUNT)

    owners = pa.concat_tables(
        [
            applied_accounts.applied.select(CUSTOMER_KEY),
            applied_accounts.replaced.select(CUSTOMER_KEY),
            revalued.filter(moved).select(CUSTOMER_KEY),
        ]
    )
    touched, old_keys, new_keys = touched_keys(old_customers, applied_customers, owners)
    wanted = pc.unique(new_keys) if formula_changed else touched.keys
    records, merged, links = _merge_subset(new_customers, new_keys, wanted, priority)

    record_ids = composite_key(records, CUSTOMER_KEY)
    mine = pc.is_in(composite_key(new_accounts, CUSTOMER_KEY), value_set=record_ids)
    keyed = new_accounts.filter(mine).join(
        links.select(["source", "cust_no", "cust_key"]),
        keys=["source", "cust_no"],
        join_type="inner",
    )
    keyed = keyed.join(merged.select(["cust_key", "cust_type"]), keys="cust_key")
    scores = formulas.score(keyed, merged)
    scored = merged.join(scores, keys="cust_key")
    gone = _gone_customers(old_customers, old_keys, touched.gone, priority, formulas.formula_ids)
    customers_out = pa.concat_tables([conform(scored, _SCORED), conform(gone, _SCORED)]).sort_by(
        "cust_key"
    )

    txns, txn_rejects, txn_files = day_transactions(ingested)
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
        [applied_customers.applied, applied_accounts.applied],
        {**customer_changes.ignored, **account_changes.ignored},
        applied_customers.applied,
    )
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode="daily",
        customers=customers_out,
        links=links,
        source_customers=records,
        accounts=keyed,
        rejects=rejects,
        files=files,
        formula_ids=formulas.formula_ids,
    )
    qualified = pc.sum(scores.column("qualified").cast(pa.int64())).as_py() or 0
    log.info(
        "%s %s: %d customer and %d account changes applied, %d merged customers re-scored "
        "(%d qualify), %d no longer exist",
        province,
        ctx.business_date,
        applied_customers.applied.num_rows,
        applied_accounts.applied.num_rows,
        merged.num_rows,
        qualified,
        len(touched.gone),
    )
    return DayResult(
        new_customers, new_accounts, batch, txns, txn_files, merged.num_rows, qualified
    )


# Columns of the batch's customer table: the merged customer and its score.
_SCORED = pa.schema([*MERGED_CUSTOMER, *(f for f in CUSTOMER_SCORE if f.name != "cust_key")])


def _gone_customers(
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
        return _SCORED.empty_table()
    _, merged, _ = _merge_subset(old_customers, old_keys, gone, priority)
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
        _SCORED,
    )


def _file_column(table: pa.Table) -> pa.Table:
    return table.select(["file"]).cast(pa.schema([("file", pa.string())]))


def _change_file_counts(
    ingested: list[dict[str, Any]],
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
    changes = [r for r in ingested if r["entity"] != "TXN"]
    return reconciled_counts(changes, kept, late, ignored, flagged)


def _txn_rows(
    warehouse: Any,
    province: str,
    business_date: date,
    txns: pa.Table,
    txn_files: list[dict[str, Any]],
    set_aside_late: dict[str, int],
) -> tuple[pa.Table, list[FileCounts]]:
    """The day's transactions of CRM customers' accounts, and the TXN files' counts.

    A transaction is kept when its account is a CRM customer's account in the warehouse
    (just published, so it includes the day's new CRM customers); the others are counted
    as filtered: the pipeline keeps no details of customers the CRM does not know.
    """
    from load import transactions as wtxn

    if txns.num_rows:
        ids = wtxn.crm_account_ids(warehouse.engine, province, txns)
        kept = txns.join(ids, keys=["source", "acct_no"], join_type="inner").sort_by(
            [("file", "ascending"), ("line", "ascending")]
        )
    else:
        kept = txns
    counts = count_by_file(kept) if kept.num_rows else {}
    files = []
    for r in txn_files:
        set_aside = r["set_aside"] + set_aside_late.get(r["file"], 0)
        k = counts.get(r["file"], 0)
        files.append(
            FileCounts(
                file=r["file"],
                branch=r["branch"],
                system=r["system"],
                entity=r["entity"],
                read=r["read"],
                kept=k,
                set_aside=set_aside,
                filtered=r["read"] - set_aside - k,
            )
        )
    n = kept.num_rows
    rows = pa.table(
        {
            "source": kept.column("source") if n else pa.array([], pa.string()),
            "txn_id": kept.column("txn_id") if n else pa.array([], pa.string()),
            "acct_no": kept.column("acct_no") if n else pa.array([], pa.string()),
            "crm_cust_id": kept.column("crm_cust_id") if n else pa.array([], pa.int64()),
            "business_date": pa.array([business_date] * n, pa.date32()),
            **{
                name: (kept.column(name) if n else pa.array([], kind))
                for name, kind in [
                    ("txn_date", pa.date32()),
                    ("txn_time", pa.string()),
                    ("dc", pa.string()),
                    ("amount", MONEY),
                    ("currency", pa.string()),
                    ("channel", pa.string()),
                    ("balance_after", MONEY),
                    ("memo", pa.string()),
                ]
            },
        }
    )
    return rows, files


def _load_transactions(
    ctx: RunContext,
    warehouse: Any,
    province: str,
    batch_id: int,
    ingested: list[dict[str, Any]],
) -> list[FileCounts]:
    """Load the day's CRM transactions (after the batch, whose CRM accounts they need)."""
    from load import transactions as wtxn

    txns, dup_rejects, txn_files = day_transactions(ingested)
    late = count_by_file(dup_rejects) if dup_rejects.num_rows else {}
    rows, files = _txn_rows(warehouse, province, ctx.day, txns, txn_files, late)
    check_reconciled(files)
    wtxn.publish_transactions(
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


_BATCH_TABLES = ("customers", "links", "source_customers", "accounts", "rejects")


def run_daily_province(
    ctx: RunContext, province: str, rates: Callable[[], pa.Table], summary: ProvinceSummary
) -> None:
    """One province's daily run (see the module docstring); PipelineError on a problem.

    The steps (`ingest`, `apply`, `load`, `transactions`) are those of the initial load's
    `ProvinceSteps`: recorded in the warehouse's control tables, skipped on a rerun when
    their outputs are intact; `load` and `transactions` resume after their last committed
    chunk. A date whose batch and details are both published is not run again unless
    forced.
    """
    from load import business_dates as wtxn

    warehouse = province_warehouse(ctx)
    if (
        not ctx.force
        and warehouse.is_published(ctx.day, province, "daily")
        and wtxn.txn_loaded(warehouse.engine, province, ctx.day)
    ):
        summary.status = "already published"
        return
    record_run(
        warehouse, ctx, province,
        lambda run_id: _daily_steps(ctx, province, rates, summary, warehouse, run_id),
    )  # fmt: skip


def _daily_steps(
    ctx: RunContext,
    province: str,
    rates: Callable[[], pa.Table],
    summary: ProvinceSummary,
    warehouse: Any,
    run_id: int,
) -> None:
    found = landed_files(ctx, province)
    work = ctx.province_dir(province)
    steps = ProvinceSteps(work, ctx.force, warehouse, run_id)
    ingested = steps.run("ingest", lambda _: ingest_files(work, found.files, ctx.force))["files"]
    previous = previous_business_date(warehouse.engine, ctx.landing, province, ctx.day)
    paths = {name: work / f"batch_{name}.parquet" for name in _BATCH_TABLES}

    def apply_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        day = compute_day(ctx, province, previous, ingested, rates())
        for name in _BATCH_TABLES:
            pq.write_table(getattr(day.batch, name), paths[name])
        state = write_daily_state(
            ctx.staging, province, ctx.business_date, day.customers, day.accounts
        )
        files = day.batch.files
        counts = {
            "read": sum(f.read for f in files),
            "kept": sum(f.kept for f in files),
            "set_aside": sum(f.set_aside for f in files),
            "filtered": sum(f.filtered for f in files),
            "written": day.batch.customers.num_rows,
            "qualified": day.qualified,
        }
        info = {
            "previous": _yyyymmdd(previous),
            "files": [asdict(f) for f in files],
            "source_customers": day.customers.num_rows,
            "merged": day.merged,
            "qualified": day.qualified,
            "formula_ids": day.batch.formula_ids,
        }
        outputs = [*paths.values(), *state]
        return outputs, counts, info

    applied = steps.run("apply", apply_step)
    files = [FileCounts(**f) for f in applied["files"]]
    batch = ProvinceBatch(
        business_date=ctx.day,
        province=province,
        mode="daily",
        customers=pq.read_table(paths["customers"]),
        links=pq.read_table(paths["links"]),
        source_customers=pq.read_table(paths["source_customers"]),
        accounts=pq.read_table(paths["accounts"]),
        rejects=pq.read_table(paths["rejects"]),
        files=files,
        formula_ids=applied["formula_ids"],
    )

    batch_id = run_load_step(steps, warehouse, batch, ctx.force, run_id)

    def txn_step(_: int) -> tuple[list[Path], dict[str, int], dict[str, Any]]:
        txn_files = _load_transactions(ctx, warehouse, province, batch_id, ingested)
        counts = {
            "read": sum(f.read for f in txn_files),
            "kept": sum(f.kept for f in txn_files),
            "set_aside": sum(f.set_aside for f in txn_files),
            "filtered": sum(f.filtered for f in txn_files),
        }
        return [], counts, {"files": [asdict(f) for f in txn_files]}

    txn_files = [FileCounts(**f) for f in steps.run("transactions", txn_step)["files"]]
    summary.files = [*files, *txn_files]
    summary.source_customers = int(applied["source_customers"])
    summary.merged_customers = int(applied["merged"])
    summary.qualified = int(applied["qualified"])
    summary.batch_id = batch_id
    summary.status = "published"
