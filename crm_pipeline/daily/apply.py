"""The day's change lists onto the previous state: customers first, then accounts.

The change records are conformed as the initial load's records are (`transform.conform`:
cross-file duplicates, orphans, rates), then applied with `transform.changes`. A `D` of a
key the state does not know is *ignored* (counted as filtered, core-dumps.md section 8).
Customers are applied first, so that an account may belong to a customer who arrives the
same day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_pipeline.daily.inputs import ACCOUNT_KEY, CUSTOMER_KEY
from crm_pipeline.daily.revalue import scoped_accounts
from crm_pipeline.reconcile import count_by_file
from transform import orphans
from transform.changes import (
    ACTION,
    DELETE,
    Applied,
    apply_changes,
    composite_key,
    joined,
    rows_with_keys,
    selected,
)
from transform.conform import StagedFile, conform_accounts, conform_customers, first_occurrence
from transform.key_index import KeyIndex

_ACTIONS = pa.schema(
    [("file", pa.string()), ("line", pa.int64()), (ACTION, pa.string()),
     ("source", pa.string()), ("key", pa.string())]
)  # fmt: skip


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
    return pa.concat_tables(parts) if parts else _ACTIONS.empty_table()


def _line_ids(table: pa.Table) -> pa.Array:
    return composite_key(table, ["file", "line"])


@dataclass(frozen=True)
class Changes:
    """One kind of change list after validation: what to apply and how it was counted."""

    rows: pa.Table  # conformed change records + `action`, ignored ones left out
    rejects: pa.Table  # REJECT rows added after ingestion (cross-file duplicates, orphans...)
    ignored: dict[str, int]  # file -> `D` of an unknown key


def split_ignored(
    actions: pa.Table,
    known: pa.Table,
    state_key: list[str],
    kept: pa.Table,
    rejects: pa.Table,
    live: pa.Array | None = None,
    index: KeyIndex | None = None,
) -> Changes:
    """Separate the ignored `D`s (unknown key) from the applied and the set-aside lines.

    A `D` of an unknown key is ignored whatever else conform said of it (an orphan or a
    currency without a rate does not matter for a record that changes nothing), except a
    key sent by two of the province's files: that line is set aside like any duplicate.
    `known` is the state (its `live` rows, `crm_pipeline.state.live_table`; `index`, its
    key index if it has one).
    """
    if actions.num_rows:
        asked = pa.table(
            {state_key[0]: actions.column("source"), state_key[1]: actions.column("key")}
        )
        rows = rows_with_keys(known, state_key, asked, index)
        if live is not None:
            rows = pc.and_(rows, live)
        present = composite_key(selected(known.select(state_key), rows), state_key)
        unknown = pc.invert(pc.is_in(composite_key(actions, ["source", "key"]), value_set=present))
        first = pa.array(first_occurrence(actions, ["source", "key"]))
        ignored_mask = pc.and_(pc.and_(pc.equal(actions.column(ACTION), DELETE), unknown), first)
        ignored = actions.filter(ignored_mask)
    else:
        ignored = actions
    ignored_ids = _line_ids(ignored)
    kept = kept.filter(pc.invert(pc.is_in(_line_ids(kept), value_set=ignored_ids)))
    rejects = rejects.filter(pc.invert(pc.is_in(_line_ids(rejects), value_set=ignored_ids)))
    with_action = joined(kept, actions.select(["file", "line", ACTION]), ["file", "line"]).sort_by(
        [("file", "ascending"), ("line", "ascending")]
    )
    return Changes(with_action, rejects, count_by_file(ignored))


def apply_customer_changes(
    old_customers: pa.Table,
    files: Sequence[StagedFile],
    live: pa.Array | None = None,
    index: KeyIndex | None = None,
) -> tuple[Changes, Applied]:
    """The day's customer change files conformed, split and applied to the old state
    (its `live` rows: `crm_pipeline.state.live_table`; `index`: its key index)."""
    conformed = conform_customers(files)
    changes = split_ignored(
        _actions(files), old_customers, CUSTOMER_KEY, conformed.table, conformed.rejects,
        live, index,
    )  # fmt: skip
    applied = apply_changes(old_customers, changes.rows, CUSTOMER_KEY, True, live, index)
    return changes, applied


def known_customers(
    customers: Applied, owners: pa.Table | None = None, index: KeyIndex | None = None
) -> pa.Table:
    """(source, cust_no) of the customer records an account of the day may belong to.

    The orphan rule itself is `transform.orphans`'; a daily run only
    chooses the records it is given: today's state, and the records deleted today (an
    account closed with its customer is not an orphan). With `owners` ((source, cust_no),
    see `account_change_owners`) only those customers are looked for: the orphan rule asks
    about the day's account changes' owners only, and the province's customers are not
    copied.
    """
    if owners is None:
        return orphans.known_customers(customers.table, customers.replaced)
    old_mask = rows_with_keys(customers.old, CUSTOMER_KEY, owners, index)
    new_mask = rows_with_keys(customers.written, CUSTOMER_KEY, owners)
    return orphans.known_customers(customers.where(old_mask, new_mask), customers.replaced)


def account_change_owners(files: Sequence[StagedFile]) -> pa.Table:
    """(source, cust_no) of the owners the day's account files name."""
    parts = []
    for f in files:
        numbers = pq.read_table(f.staged, columns=["cust_no"]).column("cust_no").cast(pa.string())
        source = pa.array([f.system] * len(numbers), pa.string())
        parts.append(pa.table({"source": source, "cust_no": numbers}))
    empty = pa.table({k: pa.array([], pa.string()) for k in CUSTOMER_KEY})
    return pa.concat_tables(parts).combine_chunks() if parts else empty


def apply_account_changes(
    old_accounts: pa.Table,
    revalued: pa.Table,
    files: Sequence[StagedFile],
    known: pa.Table,
    rates: pa.Table,
    export_filter: Decimal,
    live: pa.Array | None = None,
    index: KeyIndex | None = None,
) -> tuple[Changes, Applied]:
    """The day's account change files conformed, split and applied to the revalued state.

    A `D` removes a fund holding (FND) and replaces any other account by the closed record
    sent with it.
    """
    conformed = conform_accounts(files, known, rates, None)
    changes = split_ignored(
        _actions(files), old_accounts, ACCOUNT_KEY, conformed.table, conformed.rejects,
        live, index,
    )  # fmt: skip
    rows = scoped_accounts(changes.rows.drop_columns([ACTION]), export_filter)
    rows = rows.append_column(ACTION, changes.rows.column(ACTION))
    removes = pc.and_(pc.equal(rows.column(ACTION), DELETE), pc.equal(rows.column("source"), "FND"))
    return changes, apply_changes(revalued, rows, ACCOUNT_KEY, removes, live, index)
