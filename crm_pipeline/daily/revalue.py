"""The state's accounts at the business date's FX rates and export filter.

A daily run values every account of the state anew (rates move from day to day) and
decides its scoring scope with the day's RTL export filter; which accounts moved is what
tells the run which customers' scores may have changed.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import PipelineError
from common.schema import conform
from crm_pipeline.state import STATE_ACCOUNT
from transform.export_filter import under_export_filter
from transform.fx import to_cny, with_rates

CNY_COLUMNS = {"balance_cny": "balance", "overdraft_cny": "overdraft",
               "overdue_balance_cny": "overdue_balance"}  # fmt: skip


def _in_scope(accounts: pa.Table, export_filter: Decimal) -> pa.Array:
    return pc.invert(under_export_filter(accounts, export_filter))


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def scoped_accounts(table: pa.Table, export_filter: Decimal) -> pa.Table:
    """Accounts with `in_scope` computed for the day's export filter, as STATE_ACCOUNT."""
    if "in_scope" in table.column_names:
        table = table.drop_columns(["in_scope"])
    table = table.append_column("in_scope", _in_scope(table, export_filter))
    return conform(table, STATE_ACCOUNT)


def _by_currency(rates: pa.Table) -> dict[str, object]:
    currency, rate = rates.column("currency").to_pylist(), rates.column("cny_per_100").to_pylist()
    return dict(zip(currency, rate, strict=True))


def moved_currencies(rates: pa.Table, previous: pa.Table) -> list[str]:
    """The foreign currencies whose rate is not the previous date's (or is only on one of
    the two dates): the only ones whose accounts' CNY amounts can have moved."""
    before = _by_currency(previous)
    now = _by_currency(rates)
    return sorted(c for c in set(before) | set(now) if c != "CNY" and before.get(c) != now.get(c))


def revalue(
    accounts: pa.Table,
    rates: pa.Table,
    export_filter: Decimal,
    previous_rates: pa.Table | None = None,
) -> tuple[pa.Table, pa.Array]:
    """The accounts at the day's rates and filter, and which of them moved.

    An account *moved* when one of its CNY equivalents or its scope changed: that, and
    only that, can change its owner's score, so a rate change matters exactly for the
    customers holding a moved account (any change: scores must agree to the fen). CNY
    accounts keep their values (their rate is always 100); only their scope is checked.
    The result keeps the accounts' order; only the three CNY columns and `in_scope` are
    new arrays (the foreign accounts' amounts are valued apart and put back in place),
    the other columns are those of `accounts`, not copied.

    With `previous_rates` (the rates `accounts` are valued at, under the same export
    filter: the caller passes None when the filter changed), only the accounts of the
    currencies whose rate moved are valued (issue 21); on a day no rate moved nothing is
    computed, since the same rate and filter give the same amounts and scope.
    """
    accounts = conform(accounts, STATE_ACCOUNT)
    if previous_rates is None:
        foreign = _array(pc.not_equal(accounts.column("currency"), "CNY"))
    else:
        currencies = moved_currencies(rates, previous_rates)
        if not currencies:
            return accounts, pa.array(np.zeros(accounts.num_rows, dtype=bool))
        foreign = _array(pc.is_in(accounts.column("currency"), value_set=pa.array(currencies)))
    other = accounts.select(["currency", *CNY_COLUMNS.values(), *CNY_COLUMNS]).filter(foreign)
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
    for name, source in CNY_COLUMNS.items():
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
