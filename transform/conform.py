"""Per-system typed records of one province -> one customer table and one account table.

Here the rules that span files are applied (core-dumps.md sections 7 and 8): a customer
number sent by two branch files of one province is set aside after its first occurrence;
an account whose customer is not among the province's kept customer records of its system
is an orphan (so the accounts of a set-aside customer are orphans too); an account in a
currency with no rate for the date is set aside; on the initial load, an RTL account whose
exact CNY equivalent is strictly under the province's export filter is filtered (counted,
not rejected). Identification numbers are normalized here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.config import Layout
from common.records import RawLines
from common.rejects import reject_rows
from common.schema import MONEY, REJECT, SOURCE_ACCOUNT, SOURCE_CUSTOMER, conform
from transform.export_filter import under_export_filter
from transform.fx import to_cny, with_rates
from transform.identity import normalize_id_numbers
from transform.orphans import known_customer_rows


@dataclass(frozen=True)
class StagedFile:
    """A file of the province after ingestion: where its kept records are, its layout, and
    how to quote its lines as sent (the caller's reader: `extract.lines.raw_lines`)."""

    source_path: Path  # the landed .dat (to quote raw lines of later rejects)
    staged: Path  # Parquet of kept typed records
    layout: Layout
    system: str
    entity: str
    branch: str
    raw_lines: RawLines  # (source_path, lines, layout) -> each line's text as sent


@dataclass
class Conformed:
    table: pa.Table
    rejects: pa.Table  # REJECT
    filtered: dict[str, int]  # file name -> records filtered


def _renamed(table: pa.Table, layout: Layout) -> pa.Table:
    names = {f.name: f.column for f in layout.fields}
    return table.rename_columns([names.get(n, n) for n in table.column_names])


def _with_provenance(table: pa.Table, f: StagedFile) -> pa.Table:
    n = table.num_rows
    table = table.append_column("source", _constant(f.system, n))
    table = table.append_column("branch", _constant(f.branch, n))
    return table.append_column("file", _constant(f.source_path.name, n))


def _constant(value: str | None, n: int) -> pa.Array:
    """A string column of one value (built in Arrow, not from a Python list of n items)."""
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _rejects_for(rows: pa.Table, files: Sequence[StagedFile] | None, reason: pa.Array) -> pa.Table:
    """REJECT rows for records rejected after ingestion, quoting their raw lines; with
    `files` None, "raw" is left empty for the caller to quote once (`quote_raw_lines`)."""
    table = reject_rows(
        rows.column("line"), reason, file=rows.column("file"), branch=rows.column("branch")
    )
    return table if files is None else quote_raw_lines(table, files)


def quote_raw_lines(rejects: pa.Table, files: Sequence[StagedFile]) -> pa.Table:
    """`rejects` with each record's line as sent, read from its landed file: one pass over
    each file, however many slices the rejects were found in (a pass per slice re-read a
    large file up to the last rejected line each time)."""
    if rejects.num_rows == 0:
        return rejects
    by_name = {f.source_path.name: f for f in files}
    file_col = rejects.column("file").to_pylist()
    line_col = rejects.column("line").to_pylist()
    wanted: dict[str, set[int]] = {}
    for name, line in zip(file_col, line_col, strict=True):
        wanted.setdefault(name, set()).add(line)
    texts = {
        name: by_name[name].raw_lines(by_name[name].source_path, lines, by_name[name].layout)
        for name, lines in wanted.items()
    }
    raws = [texts[name][line] for name, line in zip(file_col, line_col, strict=True)]
    return rejects.set_column(
        rejects.schema.get_field_index("raw"), REJECT.field("raw"), pa.array(raws, pa.string())
    )


def first_occurrence(table: pa.Table, key: list[str]) -> np.ndarray:
    """Mask of the rows that are the first of their key (in file order, province first).

    Each key column is dictionary-encoded (Arrow hashes it once) and the codes combined
    into one int64 per row; `np.unique` then gives every distinct combination's first row.
    No group-by over strings, no per-row Python.
    """
    n = table.num_rows
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    combined = np.zeros(n, dtype=np.int64)
    for name in key:
        column = table.column(name)
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        encoded = pc.dictionary_encode(array.fill_null(""))
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        combined = combined * len(encoded.dictionary) + codes
    _, first = np.unique(combined, return_index=True)
    mask[first] = True
    return mask


def _in_file_order(table: pa.Table) -> pa.Table:
    """`table` sorted by (file, line), cheaply when each file's rows are one run in line
    order (what ingestion and the order-keeping filters here give): the runs are then
    only put in file-name order, as zero-copy slices. Otherwise a full sort."""
    if table.num_rows == 0:
        return table
    files = table.column("file").combine_chunks()
    encoded = pc.dictionary_encode(files)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    lines = table.column("line").to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    in_runs = len(starts) == len(encoded.dictionary) and bool(
        np.all((np.diff(lines) > 0) | (codes[1:] != codes[:-1]))
    )
    if not in_runs:
        return table.sort_by([("file", "ascending"), ("line", "ascending")])
    names = encoded.dictionary.to_pylist()
    order = sorted(range(len(starts)), key=lambda i: names[codes[starts[i]]])
    if order == list(range(len(starts))):
        return table
    return pa.concat_tables([table.slice(int(starts[i]), int(ends[i] - starts[i])) for i in order])


def customer_rows(table: pa.Table, f: StagedFile) -> pa.Table:
    """Staged rows of one customer file (or a slice of it) in the province's columns."""
    return conform(_with_provenance(_renamed(table, f.layout), f), _CUSTOMER_IN)


def duplicate_customer_rejects(dups: pa.Table, files: Sequence[StagedFile] | None) -> pa.Table:
    return _rejects_for(
        dups,
        files,
        pc.binary_join_element_wise(
            "customer number already sent in another branch file: ", dups.column("cust_no"), ""
        ),
    )


def with_normalized_ids(table: pa.Table) -> pa.Table:
    """SOURCE_CUSTOMER: the number as sent kept as `id_no_raw`, the normalized one as `id_no`."""
    ids = normalize_id_numbers(table.column("id_type"), table.column("id_no"))
    table = table.rename_columns(["id_no_raw" if n == "id_no" else n for n in table.column_names])
    table = table.append_column("id_no", ids.column("id_no"))
    table = table.append_column("id_valid", ids.column("id_valid"))
    return conform(table, SOURCE_CUSTOMER)


def conform_customers(files: Sequence[StagedFile]) -> Conformed:
    """SOURCE_CUSTOMER of the province, ids normalized; cross-file duplicates set aside."""
    parts = [customer_rows(pq.read_table(f.staged), f) for f in files]
    table = pa.concat_tables(parts) if parts else _CUSTOMER_IN.empty_table()
    first = first_occurrence(table, ["source", "cust_no"])
    rejects = duplicate_customer_rejects(table.filter(pa.array(~first)), files)
    return Conformed(with_normalized_ids(table.filter(pa.array(first))), rejects, {})


# Customer columns as staged (before id normalization).
_CUSTOMER_IN = pa.schema(
    [f for f in SOURCE_CUSTOMER if f.name not in ("id_no_raw", "id_no", "id_valid")]
    + [pa.field("id_no", pa.string())]
)

_ACCOUNT_DEFAULTS: dict[str, pa.Scalar] = {
    "overdraft": pa.scalar(Decimal("0.00"), MONEY),
    "overdue_balance": pa.scalar(Decimal("0.00"), MONEY),
    "term_months": pa.scalar(0, pa.int32()),
    "overdue_periods": pa.scalar(0, pa.int32()),
    "status": pa.scalar("N", pa.string()),
}


def account_rows(table: pa.Table, f: StagedFile) -> pa.Table:
    """Staged rows of one account file (or a slice of it) as SOURCE_ACCOUNT, defaults filled."""
    table = _with_provenance(_renamed(table, f.layout), f)
    n = table.num_rows
    kind = table.column(f.layout.kind_from) if f.layout.kind_from else _constant(f.layout.kind, n)
    table = table.append_column("kind", kind)
    table = conform(table, SOURCE_ACCOUNT)
    for name, default in _ACCOUNT_DEFAULTS.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.fill_null(table.column(name), default))
    return table


def conform_accounts(
    files: Sequence[StagedFile],
    customers: pa.Table,
    rates: pa.Table,
    export_filter: Decimal | None,
    *,
    drop_filtered: bool = True,
) -> Conformed:
    """SOURCE_ACCOUNT + CNY equivalents; orphans and rate-less set aside, export filter applied.

    On the initial load (`drop_filtered`) an RTL account under the filter is left out and
    counted as filtered. Otherwise every account is kept and the filter only decides the
    scoring scope of the day (`in_scope`). No filter (None) puts every account in scope.
    """
    parts = [account_rows(pq.read_table(f.staged), f) for f in files]
    table = pa.concat_tables(parts) if parts else SOURCE_ACCOUNT.empty_table()
    first = first_occurrence(table, ["source", "acct_no"])
    known = known_customer_rows(table, customers)
    conformed = apply_account_rules(
        table, first, known, files, rates, export_filter, drop_filtered=drop_filtered
    )
    return Conformed(_in_file_order(conformed.table), conformed.rejects, conformed.filtered)


def apply_account_rules(
    table: pa.Table,
    first: np.ndarray,
    known: np.ndarray,
    files: Sequence[StagedFile] | None,
    rates: pa.Table,
    export_filter: Decimal | None,
    *,
    drop_filtered: bool,
) -> Conformed:
    """The account rules, in their order, given the two that need the whole province:
    `first` (first occurrence of its account number) and `known` (its customer is a kept
    customer record of its system), both aligned with `table`. Row order is kept, so the
    rules can be applied to a province at once or to its files slice by slice (`files`
    None: the rejects' raw lines are left for the caller to quote, once per file)."""
    rejects: list[pa.Table] = []

    def set_aside(table: pa.Table, drop: pa.Array, why: Callable[[pa.Table], pa.Array]) -> pa.Table:
        """`table` without the rows of `drop`; their REJECT rows (reason `why(rows)`) kept."""
        rows = table.filter(drop)
        rejects.append(_rejects_for(rows, files, why(rows)))
        return table.filter(pc.invert(drop))

    table = set_aside(
        table,
        pa.array(~first),
        lambda rows: pc.binary_join_element_wise(
            "account number already sent in another branch file: ", rows.column("acct_no"), ""
        ),
    )
    table = set_aside(
        table,
        pa.array(~known[first]),
        lambda rows: pc.binary_join_element_wise(
            "orphan: customer ",
            rows.column("cust_no"),
            " is not a known ",
            rows.column("source"),
            " customer",
            "",
        ),
    )
    table = with_rates(table, rates)
    table = set_aside(
        table,
        pc.is_null(table.column("cny_per_100")),
        lambda rows: pc.binary_join_element_wise(
            "no FX rate for currency ", rows.column("currency"), ""
        ),
    )

    rate = table.column("cny_per_100")
    table = table.append_column("balance_cny", to_cny(table.column("balance"), rate))
    table = table.append_column("overdraft_cny", to_cny(table.column("overdraft"), rate))
    table = table.append_column(
        "overdue_balance_cny", to_cny(table.column("overdue_balance"), rate)
    ).drop_columns(["cny_per_100"])

    filtered: dict[str, int] = {}
    if export_filter is not None and drop_filtered:
        under = under_export_filter(table, export_filter)
        dropped = table.filter(under)
        if dropped.num_rows:
            counts = dropped.group_by("file").aggregate([("line", "count")])
            filtered = dict(
                zip(
                    counts.column("file").to_pylist(),
                    counts.column("line_count").to_pylist(),
                    strict=True,
                )
            )
        table = table.filter(pc.invert(under))
    in_scope = (
        pc.invert(under_export_filter(table, export_filter))
        if export_filter is not None
        else pa.array(np.ones(table.num_rows, dtype=bool))
    )
    table = table.append_column("in_scope", in_scope)
    return Conformed(table, pa.concat_tables(rejects), filtered)
