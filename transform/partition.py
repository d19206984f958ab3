"""A province's initial load cut into buckets of customer identities.

Why: a large province does not fit in memory as whole tables (about 14 GiB at ten million
accounts when it was held at once), and merging, scoring and loading need no more than one
customer's records and accounts at a time. Every source customer record goes to the bucket
of its identity, every account to the bucket of its customer; buckets are then merged,
scored and loaded one at a time (two at once, one per core), so memory is bounded by a
bucket, whatever the size of the province.

The bucket of an identity is a stable hash of what makes records the same customer
(crm-import.md, "Merge rules"): customer type and, for organization codes and credit codes,
the organization code (a credit code embeds it, so both land in one bucket), otherwise the
identification type and normalized number. A record without a number is its own identity.

Two rules need the whole province and are applied before the cut, from narrow columns
only: a customer number, or an account number, sent twice (the first occurrence in file
order is kept), and an account whose customer is not a kept customer record of its system
(an orphan). The other rules are per record and are applied slice by slice
(`transform.conform`, the same functions as for a province taken at once).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.intermediate import IPC_SUFFIX, PartWriter, write_table
from common.schema import REJECT, SOURCE_ACCOUNT, SOURCE_CUSTOMER
from transform.conform import (
    StagedFile,
    account_rows,
    apply_account_rules,
    customer_rows,
    duplicate_customer_rejects,
    quote_raw_lines,
    with_normalized_ids,
)
from transform.hashing import first_appearance_streamed, stable_hash
from transform.identity import CREDIT_CODE, ORG_CODE, org_code_in_credit_code
from transform.ingest import staged_batches
from transform.orphans import owner_buckets

# Landed text per bucket. A bucket of 64 MiB of dumps (about 300,000 accounts and their
# customers) merges and scores in well under a gigabyte; CRM_BUCKETS overrides the count.
BUCKET_INPUT_BYTES = 64 * 2**20
READ_ROWS = 256 * 1024  # rows of a staged file read at a time


def bucket_count(input_bytes: int) -> int:
    """How many buckets a province of `input_bytes` of landed files is cut into."""
    wanted = os.environ.get("CRM_BUCKETS")
    if wanted:
        return max(1, int(wanted))
    return max(1, math.ceil(input_bytes / BUCKET_INPUT_BYTES))


def identity_keys(customers: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Per SOURCE_CUSTOMER record (ids normalized), the text of what makes records the same
    customer: customer type and the organization code (for organization and credit codes),
    else the identification type and number. Records that can merge
    (transform.merge.resolve_keys) always share it, and records that do not share it never
    merge, so the records of one key merge alone exactly as they do in the province."""
    id_type = customers.column("id_type")
    id_no = customers.column("id_no").fill_null("")
    is_org = pc.equal(id_type, ORG_CODE)
    is_credit = pc.equal(id_type, CREDIT_CODE)
    organization = pc.if_else(is_credit, org_code_in_credit_code(id_no), id_no)
    by_org = pc.or_(is_org, is_credit)
    key_type = pc.if_else(by_org, pa.scalar("ORG"), id_type)
    key_no = pc.if_else(by_org, organization, id_no)
    no_id = pc.equal(pc.binary_length(id_no), 0)
    own = pc.binary_join_element_wise(
        "(no id)", customers.column("source"), customers.column("cust_no"), " "
    )
    return pc.binary_join_element_wise(
        customers.column("cust_type"), key_type, pc.if_else(no_id, own, key_no), "|"
    )


def identity_buckets(customers: pa.Table, buckets: int) -> npt.NDArray[np.int32]:
    """The bucket of each SOURCE_CUSTOMER record (ids normalized): a stable hash of its
    `identity_keys`, so records that can merge always share it."""
    if buckets == 1 or customers.num_rows == 0:
        return np.zeros(customers.num_rows, np.int32)
    return (stable_hash(identity_keys(customers)) % np.uint64(buckets)).astype(np.int32)


@dataclass(frozen=True)
class FileCut:
    """Where one staged file's records went: `{folder}/{stem}/{bucket}{suffix}`."""

    folder: Path  # customers/ or accounts/ of the cut
    stem: str
    suffix: str = ".parquet"  # common.intermediate: Parquet, or Arrow IPC (".arrow")

    def bucket(self, b: int) -> Path:
        return self.folder / self.stem / f"{b:04d}{self.suffix}"

    @property
    def rejects(self) -> Path:
        return self.folder / self.stem / "rejects.parquet"

    @property
    def numbers(self) -> Path:
        """A customer file's kept customer numbers and their buckets (where accounts go)."""
        return self.folder / self.stem / "numbers.parquet"


def file_cut(out: Path, role: str, f: StagedFile) -> FileCut:
    """An account file's buckets are Arrow IPC files: read back whole by the score step and
    the state snapshot (common.intermediate); a customer file's stay Parquet."""
    suffix = IPC_SUFFIX if role == "accounts" else ".parquet"
    return FileCut(out / role, f.source_path.name.removesuffix(".dat"), suffix)


@dataclass
class Partitioned:
    """Where the buckets are, and the per-file counts the reconciliation needs."""

    buckets: int
    customers: list[list[Path]]  # per bucket, its SOURCE_CUSTOMER files (one per file)
    accounts: list[list[Path]]  # per bucket, its conformed account files (+ CNY, in_scope)
    rejects: list[Path]  # REJECT, per file: records set aside by the province-wide rules
    kept: dict[str, int] = field(default_factory=dict)
    filtered: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)


class BucketWriters:
    """One file per bucket, appended to slice by slice (rows keep their order)."""

    def __init__(self, cut: FileCut, buckets: int, schema: pa.Schema) -> None:
        (cut.folder / cut.stem).mkdir(parents=True, exist_ok=True)
        self.paths = [cut.bucket(b) for b in range(buckets)]
        self.schema = schema
        self.writers: dict[int, PartWriter] = {}

    def write(self, table: pa.Table, bucket: npt.NDArray[np.int32]) -> None:
        if table.num_rows == 0:
            return
        table = table.cast(self.schema)
        order = np.argsort(bucket, kind="stable")
        ordered = table.take(pa.array(order))
        present, starts = np.unique(bucket[order], return_index=True)
        ends = np.r_[starts[1:], len(order)]
        for b, start, end in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True):
            writer = self.writers.get(b)
            if writer is None:
                writer = PartWriter(self.paths[b], self.schema)
                self.writers[b] = writer
            writer.write(ordered.slice(start, end - start))

    def close(self) -> list[Path]:
        for b, path in enumerate(self.paths):
            writer = self.writers.pop(b, None)
            if writer is not None:
                writer.close()
            else:
                write_table(self.schema.empty_table(), path)
        return self.paths


def _staged_name(f: StagedFile, column: str) -> str:
    """The staged file's name for a province column (staged files keep the layout's names)."""
    for spec in f.layout.fields:
        if spec.column == column:
            return spec.name
    return column


def _slices(f: StagedFile) -> Iterator[pa.Table]:
    for batch in staged_batches(f.staged, READ_ROWS):
        yield pa.Table.from_batches([batch])


def first_rows(files: Sequence[StagedFile], column: str) -> list[npt.NDArray[np.bool_]]:
    """Per file, the mask of rows whose `column` value is the first of its system in file
    order: the province-wide duplicate rule, from one narrow column per file."""
    masks: list[npt.NDArray[np.bool_]] = [np.zeros(0, bool)] * len(files)
    by_system: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(files):
        by_system[f.system].append(i)
    for indexes in by_system.values():

        def values(indexes: list[int] = indexes) -> Iterator[pa.Array]:
            for i in indexes:
                name = _staged_name(files[i], column)
                for batch in staged_batches(files[i].staged, READ_ROWS, [name]):
                    yield batch.column(0)

        # Streamed: eight bytes of hash a row are held, not the system's strings.
        first = first_appearance_streamed(values)
        lengths = [pq.read_metadata(files[i].staged).num_rows for i in indexes]
        offset = 0
        for i, length in zip(indexes, lengths, strict=True):
            masks[i] = first[offset : offset + length]
            offset += length
    return masks


def _add(counts: dict[str, int], name: str, value: int) -> None:
    if value:
        counts[name] = counts.get(name, 0) + value


def _write_rejects(rejects: list[pa.Table], path: Path, f: StagedFile) -> int:
    """A file's rejects found slice by slice, with their raw lines (one pass over the file)."""
    table = pa.concat_tables([r.cast(REJECT) for r in rejects]) if rejects else REJECT.empty_table()
    table = quote_raw_lines(table, [f])
    pq.write_table(table, path)
    return table.num_rows


def cut_customers(
    f: StagedFile, first: npt.NDArray[np.bool_], buckets: int, out: Path
) -> dict[str, int]:
    """One customer file's records, duplicates set aside (`first`: `first_rows`' mask for
    the file), ids normalized, cut into buckets; with its customer numbers' buckets."""
    cut = file_cut(out, "customers", f)
    writers = BucketWriters(cut, buckets, SOURCE_CUSTOMER)
    rejects: list[pa.Table] = []
    numbers: list[pa.Table] = []
    kept = flagged = offset = 0
    for raw in _slices(f):
        table = customer_rows(raw, f)
        keep = first[offset : offset + table.num_rows]
        offset += table.num_rows
        if not keep.all():
            rejects.append(duplicate_customer_rejects(table.filter(pa.array(~keep)), None))
            table = table.filter(pa.array(keep))
        table = with_normalized_ids(table)
        bucket = identity_buckets(table, buckets)
        writers.write(table, bucket)
        kept += table.num_rows
        flagged += int(pc.sum(pc.invert(table.column("id_valid")).cast(pa.int64())).as_py() or 0)
        numbers.append(pa.table({"cust_no": table.column("cust_no"), "bucket": bucket}))
    writers.close()
    pq.write_table(pa.concat_tables(numbers) if numbers else _NUMBERS.empty_table(), cut.numbers)
    set_aside = _write_rejects(rejects, cut.rejects, f)
    return {"kept": kept, "flagged": flagged, "filtered": 0, "set_aside": set_aside}


_NUMBERS = pa.schema([pa.field("cust_no", pa.string()), pa.field("bucket", pa.int32())])


def account_schema(
    rates: pa.Table, export_filter: Decimal | None, drop_filtered: bool
) -> pa.Schema:
    """The columns of conformed accounts (what the account rules make of SOURCE_ACCOUNT)."""
    none = np.zeros(0, bool)
    empty = SOURCE_ACCOUNT.empty_table()
    conformed = apply_account_rules(
        empty, none, none, [], rates, export_filter, drop_filtered=drop_filtered
    )
    return conformed.table.schema


def cut_accounts(
    f: StagedFile,
    first: npt.NDArray[np.bool_],
    numbers: Sequence[Path],
    rates: pa.Table,
    export_filter: Decimal | None,
    drop_filtered: bool,
    buckets: int,
    out: Path,
) -> dict[str, int]:
    """One account file's records through the account rules, each kept one in the bucket of
    its customer (`numbers`: the `FileCut.numbers` of its system's customer files)."""
    owner = _owner_buckets(f, numbers)
    cut = file_cut(out, "accounts", f)
    writers = BucketWriters(cut, buckets, account_schema(rates, export_filter, drop_filtered))
    rejects: list[pa.Table] = []
    kept = filtered = offset = 0
    for raw in _slices(f):
        table = account_rows(raw, f)
        n = table.num_rows
        table = table.append_column("__bucket", pa.array(owner[offset : offset + n]))
        conformed = apply_account_rules(
            table,
            first[offset : offset + n],
            owner[offset : offset + n] >= 0,
            None,  # raw lines quoted once, at the end
            rates,
            export_filter,
            drop_filtered=drop_filtered,
        )
        offset += n
        bucket = conformed.table.column("__bucket").to_numpy()
        writers.write(conformed.table.drop_columns(["__bucket"]), bucket)
        kept += conformed.table.num_rows
        filtered += sum(conformed.filtered.values())
        if conformed.rejects.num_rows:
            rejects.append(conformed.rejects)
    writers.close()
    set_aside = _write_rejects(rejects, cut.rejects, f)
    return {"kept": kept, "flagged": 0, "filtered": filtered, "set_aside": set_aside}


def _owner_buckets(f: StagedFile, numbers: Sequence[Path]) -> npt.NDArray[np.int32]:
    """Per account row of `f`, the bucket of its customer, or -1 for an orphan."""
    name = _staged_name(f, "cust_no")

    def batches() -> Iterator[pa.Array]:
        for batch in staged_batches(f.staged, READ_ROWS, [name]):
            column = batch.column(0)
            yield column if column.type == pa.string() else column.cast(pa.string())

    return owner_buckets(batches, numbers)


def numbers_of(out: Path, customer_files: Sequence[StagedFile], system: str) -> list[Path]:
    return [file_cut(out, "customers", c).numbers for c in customer_files if c.system == system]


def partitioned(
    customer_files: Sequence[StagedFile],
    account_files: Sequence[StagedFile],
    counts: Sequence[dict[str, int]],
    buckets: int,
    out: Path,
) -> Partitioned:
    """The cut of a province whose files were all cut (`counts`: theirs, files in order)."""
    customer_cuts = [file_cut(out, "customers", f) for f in customer_files]
    account_cuts = [file_cut(out, "accounts", f) for f in account_files]
    result = Partitioned(
        buckets,
        [[c.bucket(b) for c in customer_cuts] for b in range(buckets)],
        [[c.bucket(b) for c in account_cuts] for b in range(buckets)],
        [c.rejects for c in customer_cuts + account_cuts],
    )
    for f, count in zip([*customer_files, *account_files], counts, strict=True):
        for name in ("kept", "filtered", "flagged"):
            _add(getattr(result, name), f.source_path.name, count[name])
    return result
