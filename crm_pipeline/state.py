"""A province's state snapshot: its copy of every system's customers and accounts as of a
published business date, the input of the next daily run (and of statements and trials).

Written in the layout of `common.staging.StagingArea.state_dir`, as uncompressed Arrow IPC
files read memory-mapped, with no decoding. A date's snapshot is either *full* (the initial
load's, or a daily run's now and then: `customers.arrow`, `accounts.arrow`) or a *layer*
over the previous date's (issue 21): only the rows that date wrote and the keys it removed
(`layer.json` naming the previous date, `{table}.written.arrow`, `{table}.removed.arrow`),
so a night writes what changed, not the province. Reading a date walks its layers back to
the full snapshot below them: the full snapshot's rows no layer replaced or removed, then
each layer's rows no later layer replaced, oldest first (the order in which applying the
days one by one leaves them, `transform.changes`). Snapshots are immutable once their date
is published (only the newest date can be forced, `crm_pipeline.history`), so a layer's
previous date never changes under it. A snapshot is written locally (in the scratch folder
when the staging area is an object store); the step that writes it lists its files as
outputs, so the restart ledger uploads them before the step is done, and a read fetches
each file from the store first (`StagingArea.fetch`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.batch import BatchTable
from common.errors import PipelineError
from common.schema import SOURCE_ACCOUNT, SOURCE_CUSTOMER, conform
from common.staging import StagingArea
from crm_pipeline.state_files import fresh_tmp, mapped, replace_dir, write_arrow
from crm_pipeline.state_index import INDEXES, STATE_KEYS, index_path, read_index, write_indexes
from transform.changes import composite_key, rows_with_keys
from transform.currency_totals import currency_sums
from transform.fx import CNY_EXACT
from transform.key_index import KeyIndex

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


LAYER = "layer.json"
RATES = "rates.arrow"  # the date's FX rates, which its accounts' CNY amounts are at
CURRENCIES = "currencies.arrow"  # the live accounts' totals per currency (TOTALS)
# A layer is written while the layers below the full snapshot stay fewer than this and the
# rows they hold stay under this share of the full snapshot's; else the date is written
# full, so reading a date costs at most a few small layers over one snapshot.
MAX_LAYERS = 7
MAX_LAYER_SHARE = 0.25


def yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def write_state(
    area: StagingArea,
    province: str,
    business_date: str,
    customers: BatchTable,
    accounts: BatchTable,
    rates: pa.Table | None = None,
) -> list[Path]:
    """Write a state snapshot atomically (aside, then renamed), part by part, so memory is
    bounded by a part, with its tables' key indexes (`crm_pipeline.state_index`) and its
    accounts' per-currency totals (`transform.currency_totals`); the files written."""
    target = area.state_dir(province, business_date)
    tmp = fresh_tmp(target)
    names = []
    for name, table in (("customers", customers), ("accounts", accounts)):
        path = tmp / area.state_file(province, business_date, name).name
        write_arrow(path, table)
        names += [path.name, *(p.name for p in write_indexes(path, name))]
    written = mapped(tmp / area.state_file(province, business_date, "accounts").name)
    if {"currency", "balance_cny"} <= set(written.column_names):
        write_arrow(tmp / CURRENCIES, currency_sums(written))
        names.append(CURRENCIES)
    if rates is not None:
        write_arrow(tmp / RATES, rates)
        names.append(RATES)
    replace_dir(tmp, target)
    return _wrote(area, [target / n for n in names])


def _wrote(area: StagingArea, paths: list[Path]) -> list[Path]:
    """`paths`, noted as written here: the step that wrote them uploads them as its outputs,
    and until then reading the date back (the daily quality gate's accounts) reads them,
    not the store's older copy (`common.store.StagingStore.wrote`)."""
    for path in paths:
        area.store.wrote(path)
    return paths


def read_rates(area: StagingArea, province: str, business_date: date) -> pa.Table | None:
    """The FX rates a date's accounts are valued at (`rates.arrow`), None if not recorded
    (snapshots written before issue 21): then a daily run values every account anew."""
    path = area.state_dir(province, yyyymmdd(business_date)) / RATES
    return mapped(path) if area.fetch(path) else None


@dataclass(frozen=True)
class StateLayer:
    """What one date changed in a state table: the rows it wrote (whole records, new or
    replacing the key's older one) and the keys it removed (a table of the key columns)."""

    written: pa.Table
    removed: pa.Table


@dataclass(frozen=True)
class LayerStats:
    """How deep a date's snapshot sits over its full snapshot: layers and their rows."""

    layers: int
    layer_rows: int
    full_rows: int

    def takes(self, rows: int) -> bool:
        """Whether a layer of `rows` more rows may go on top (else write the date full)."""
        return self.layers + 1 <= MAX_LAYERS and self.layer_rows + rows <= MAX_LAYER_SHARE * max(
            self.full_rows, 1
        )


def layer_stats(area: StagingArea, province: str, business_date: date) -> LayerStats:
    """The layers under a date's snapshot, read from their `layer.json` files only."""
    layers = rows = 0
    day = yyyymmdd(business_date)
    while (meta := _layer_meta(area, province, day)) is not None:
        layers += 1
        rows += int(meta["rows"])
        day = str(meta["previous"])
    full = 0
    for name in ("customers", "accounts"):
        path = area.state_file(province, day, name)
        if area.fetch(path):
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            full += sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
    return LayerStats(layers, rows, full)


def write_layer(
    area: StagingArea,
    province: str,
    business_date: str,
    previous: date,
    tables: dict[str, StateLayer],
    rates: pa.Table,
    currencies: pa.Table | None = None,
) -> list[Path]:
    """Write a date's snapshot as a layer over `previous`'s, atomically, with its carried
    per-currency totals if given; the files written."""
    target = area.state_dir(province, business_date)
    tmp = fresh_tmp(target)
    names: list[str] = []
    rows = 0
    for name in STATE_KEYS:
        layer = tables[name]
        for kind, table in (("written", layer.written), ("removed", layer.removed)):
            names.append(f"{name}.{kind}.arrow")
            write_arrow(tmp / names[-1], table)
            rows += table.num_rows
    write_arrow(tmp / RATES, rates)
    if currencies is not None:
        write_arrow(tmp / CURRENCIES, currencies)
        names.append(CURRENCIES)
    meta = {"previous": yyyymmdd(previous), "rows": rows}
    (tmp / LAYER).write_text(json.dumps(meta) + "\n", encoding="utf-8")
    replace_dir(tmp, target)
    return _wrote(area, [target / n for n in (LAYER, RATES, *names)])


def _layer_meta(area: StagingArea, province: str, day: str) -> dict[str, str | int] | None:
    """A layer's `layer.json` (`previous` date, `rows` it holds), None for a full one."""
    path = area.state_dir(province, day) / LAYER
    if not area.fetch(path):
        return None
    meta: dict[str, str | int] = json.loads(path.read_text(encoding="utf-8"))
    return meta


def _not_in(table: pa.Table, key: Sequence[str], keys: pa.Array) -> pa.Table:
    if len(keys) == 0 or table.num_rows == 0:
        return table
    return table.filter(pc.invert(pc.is_in(composite_key(table, key), value_set=keys)))


def overlay(full: pa.Table, layers: Sequence[StateLayer], key: Sequence[str]) -> pa.Table:
    """A state table from its full snapshot and the layers over it, oldest first (pure):
    the full snapshot's rows no layer replaced or removed, then each layer's rows no later
    layer replaced, in layer order."""
    table, live = live_table(full, layers, key)
    return table if live is None else table.filter(live)


def live_table(
    full: pa.Table,
    layers: Sequence[StateLayer],
    key: Sequence[str],
    index: KeyIndex | None = None,
) -> tuple[pa.Table, pa.Array | None]:
    """The rows of `overlay` without copying the full snapshot (pure): the full snapshot
    followed by each layer's surviving rows (chunks, not copies), and the mask of the
    full snapshot's rows that are still the state (None when there is no layer). With the
    full snapshot's key `index`, its hidden rows are searched, not probed."""
    if not layers:
        return full, None
    seen: list[pa.Array] = []
    hidden_keys: list[pa.Table] = []
    pieces: list[pa.Table] = []
    for layer in reversed(layers):
        hidden = pa.concat_arrays(seen) if seen else pa.array([], pa.string())
        pieces.append(_not_in(layer.written.cast(full.schema), key, hidden))
        seen += [composite_key(layer.written, key), composite_key(layer.removed, key)]
        hidden_keys += [_keys(layer.written, key), _keys(layer.removed, key)]
    rows = sum(p.num_rows for p in pieces)
    gone = rows_with_keys(full, key, pa.concat_tables(hidden_keys), index)
    live = pa.concat_arrays([pc.invert(gone), pa.array(np.ones(rows, dtype=bool))])
    return pa.concat_tables([full, *reversed(pieces)]), live


def _keys(table: pa.Table, key: Sequence[str]) -> pa.Table:
    return table.select(list(key)).cast(pa.schema([(k, pa.string()) for k in key]))


def _read_full(area: StagingArea, province: str, business_date: str, name: str) -> pa.Table | None:
    """One table of a full snapshot: Arrow IPC, or Parquet (initial loads of earlier
    versions wrote a Parquet copy, and before that only Parquet)."""
    arrow = area.state_file(province, business_date, name)
    parquet = arrow.with_suffix(".parquet")
    if area.fetch(arrow):
        return mapped(arrow)
    if area.fetch(parquet):
        return pq.read_table(parquet)
    return None


def read_layers(
    area: StagingArea, province: str, business_date: str, name: str
) -> tuple[pa.Table | None, list[StateLayer]]:
    """A date's full snapshot of one table and the layers over it, oldest first."""
    layers: list[StateLayer] = []
    day = business_date
    while (meta := _layer_meta(area, province, day)) is not None:
        folder = area.state_dir(province, day)
        written, removed = folder / f"{name}.written.arrow", folder / f"{name}.removed.arrow"
        for path in (written, removed):
            if not area.fetch(path):
                raise PipelineError(f"{path}: missing from the state layer of {day}")
        layers.append(StateLayer(mapped(written), mapped(removed)))
        day = str(meta["previous"])
    return _read_full(area, province, day, name), layers[::-1]


def _read_snapshot(
    area: StagingArea, province: str, business_date: str, name: str
) -> pa.Table | None:
    """One table of a date's snapshot, its layers applied over its full snapshot."""
    full, layers = read_layers(area, province, business_date, name)
    if full is None or not layers:
        return full
    return overlay(full, layers, STATE_KEYS[name])


@dataclass(frozen=True)
class LiveState:
    """One state table as a daily run reads it (`live_table`): its rows, the mask of those
    still the state (None: all) and the full snapshot's key indexes by name (empty for a
    snapshot written without them: then every question probes the table)."""

    table: pa.Table
    live: pa.Array | None
    indexes: dict[str, KeyIndex]


def read_live_state(area: StagingArea, province: str, business_date: date) -> dict[str, LiveState]:
    """Per state table, its `LiveState`: what a daily run reads, so that a date over
    layers costs no copy of the province, and its questions no probe of it."""
    day = yyyymmdd(business_date)
    out: dict[str, LiveState] = {}
    for name, schema in (("customers", SOURCE_CUSTOMER), ("accounts", STATE_ACCOUNT)):
        full, layers = read_layers(area, province, day, name)
        if full is None:
            raise _missing(area, province, day)
        indexes = _indexes(area, province, _full_day(area, province, day), name, full.num_rows)
        table, live = live_table(full, layers, STATE_KEYS[name], indexes.get("key"))
        out[name] = LiveState(conform(table, schema), live, indexes)
    return out


def _full_day(area: StagingArea, province: str, day: str) -> str:
    """The date of the full snapshot a date's layers lie on (the date itself if full)."""
    while (meta := _layer_meta(area, province, day)) is not None:
        day = str(meta["previous"])
    return day


def _indexes(
    area: StagingArea, province: str, full_day: str, name: str, covered: int
) -> dict[str, KeyIndex]:
    """The key indexes of a full snapshot's table that it has and that cover its rows."""
    table_path = area.state_file(province, full_day, name)
    found: dict[str, KeyIndex] = {}
    for index in INDEXES[name]:
        path = index_path(table_path, index)
        if area.fetch(path) and (read := read_index(path, table_path, index, covered)):
            found[index] = read
    return found


def state_accounts_file(area: StagingArea, province: str, business_date: str, out: Path) -> Path:
    """A file of a date's accounts for readers that take files (the quality gate's
    currencies in use and value totals): one row per currency of the live accounts, its
    `balance_cny` the sum of their |balance_cny|, written to `out` (Parquet).

    The gate reads nothing else of them: the snapshot's carried totals
    (`transform.currency_totals`, written with it) when it has them, else summed here from
    the memory-mapped snapshot and its layers (issue 21)."""
    totals = read_currency_totals(area, province, business_date)
    if totals is None:
        full, layers = read_layers(area, province, business_date, "accounts")
        if full is None:
            raise _missing(area, province, business_date)
        table, live = live_table(full, layers, STATE_KEYS["accounts"]) if layers else (full, None)
        totals = currency_sums(table, live)
    pq.write_table(totals, out)
    return out


def read_currency_totals(area: StagingArea, province: str, business_date: str) -> pa.Table | None:
    """A snapshot's per-currency totals (`TOTALS`), None if it was written without them."""
    path = area.state_dir(province, business_date) / CURRENCIES
    return mapped(path) if area.fetch(path) else None


def _missing(area: StagingArea, province: str, day: str) -> PipelineError:
    return PipelineError(
        f"the state snapshot of {day} is missing ({area.state_dir(province, day)}); "
        "it is written by that date's load and a daily run starts from it"
    )


def read_state(area: StagingArea, province: str, business_date: date) -> tuple[pa.Table, pa.Table]:
    """The province's customers and accounts as of a published business date."""
    day = yyyymmdd(business_date)
    customers = _read_snapshot(area, province, day, "customers")
    accounts = _read_snapshot(area, province, day, "accounts")
    if customers is None or accounts is None:
        raise _missing(area, province, day)
    return conform(customers, SOURCE_CUSTOMER), conform(accounts, STATE_ACCOUNT)


def read_state_accounts(area: StagingArea, province: str, business_date: date) -> pa.Table | None:
    """The accounts of a state snapshot (for statements), None if there is none."""
    return _read_snapshot(area, province, yyyymmdd(business_date), "accounts")
