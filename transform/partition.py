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

from transform.conform import (
    StagedFile,
    account_rows,
    apply_account_rules,
    customer_rows,
    duplicate_customer_rejects,
    first_occurrence,
    with_normalized_ids,
)
from transform.identity import CREDIT_CODE, ORG_CODE, org_code_in_credit_code
from transform.ingest import STAGED_PARQUET
from transform.schema import REJECT, SOURCE_ACCOUNT, SOURCE_CUSTOMER

# Landed text per bucket. A bucket of 64 MiB of dumps (about 300,000 accounts and their
# customers) merges and scores in well under a gigabyte; CRM_BUCKETS overrides the count.
BUCKET_INPUT_BYTES = 64 * 2**20
READ_ROWS = 256 * 1024  # rows of a staged file read at a time

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def bucket_count(input_bytes: int) -> int:
    """How many buckets a province of `input_bytes` of landed files is cut into."""
    wanted = os.environ.get("CRM_BUCKETS")
    if wanted:
        return max(1, int(wanted))
    return max(1, math.ceil(input_bytes / BUCKET_INPUT_BYTES))


def stable_hash(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.uint64]:
    """FNV-1a (64 bits) of each string's UTF-8 bytes, and of its length.

    Stable across processes, runs and versions (unlike Python's `hash`), which is what a
    restart needs: the same record must fall in the same bucket every time. Vectorized by
    byte position, so the cost is (longest string) passes over the array, no per-row Python.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if values.type != pa.string():
        values = values.cast(pa.string())
    values = values.fill_null("")
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32)[values.offset : values.offset + n + 1]
    starts = offsets[:-1].astype(np.int64)
    lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    hashed = np.full(n, _FNV_OFFSET, dtype=np.uint64) ^ lengths.astype(np.uint64)
    hashed *= _FNV_PRIME
    longest = int(lengths.max()) if n else 0
    last = max(len(data) - 1, 0)
    for position in range(longest):
        byte = data[np.minimum(starts + position, last)].astype(np.uint64)
        mixed = (hashed ^ byte) * _FNV_PRIME
        hashed = np.where(lengths > position, mixed, hashed)  # past its end, a string is done
    return hashed


def identity_buckets(customers: pa.Table, buckets: int) -> npt.NDArray[np.int32]:
    """The bucket of each SOURCE_CUSTOMER record (ids normalized): records that can merge
    (transform.merge.resolve_keys) always share it."""
    if buckets == 1 or customers.num_rows == 0:
        return np.zeros(customers.num_rows, np.int32)
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
    key = pc.binary_join_element_wise(
        customers.column("cust_type"), key_type, pc.if_else(no_id, own, key_no), "|"
    )
    return (stable_hash(key) % np.uint64(buckets)).astype(np.int32)


@dataclass
class Partitioned:
    """Where the buckets are, and the per-file counts the reconciliation needs."""

    buckets: int
    customers: list[Path]  # SOURCE_CUSTOMER, one file per bucket
    accounts: list[Path]  # conformed accounts (+ CNY, in_scope), one file per bucket
    rejects: Path  # REJECT: records set aside by the province-wide rules
    kept: dict[str, int] = field(default_factory=dict)
    filtered: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)


class BucketWriters:
    """One Parquet file per bucket, appended to slice by slice (rows keep their order)."""

    def __init__(self, folder: Path, buckets: int, schema: pa.Schema) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = [folder / f"{b:04d}.parquet" for b in range(buckets)]
        self.schema = schema
        self.writers: dict[int, pq.ParquetWriter] = {}

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
                writer = pq.ParquetWriter(self.paths[b], self.schema, **STAGED_PARQUET)
                self.writers[b] = writer
            writer.write_table(ordered.slice(start, end - start))

    def close(self) -> list[Path]:
        for b, path in enumerate(self.paths):
            writer = self.writers.pop(b, None)
            if writer is not None:
                writer.close()
            else:
                pq.write_table(self.schema.empty_table(), path, **STAGED_PARQUET)
        return self.paths


def _staged_name(f: StagedFile, column: str) -> str:
    """The staged file's name for a province column (staged files keep the layout's names)."""
    for spec in f.layout.fields:
        if spec.column == column:
            return spec.name
    return column


def _slices(f: StagedFile) -> Iterator[pa.Table]:
    for batch in pq.ParquetFile(f.staged).iter_batches(batch_size=READ_ROWS):
        yield pa.Table.from_batches([batch])


def _first_rows(files: Sequence[StagedFile], column: str) -> list[npt.NDArray[np.bool_]]:
    """Per file, the mask of rows whose `column` value is the first of its system in file
    order: the province-wide duplicate rule, from one narrow column per file."""
    masks: list[npt.NDArray[np.bool_]] = [np.zeros(0, bool)] * len(files)
    by_system: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(files):
        by_system[f.system].append(i)
    for indexes in by_system.values():
        columns = [
            pq.read_table(files[i].staged, columns=[_staged_name(files[i], column)]).column(0)
            for i in indexes
        ]
        keys = pa.chunked_array(
            [c.cast(pa.string()) for c in columns], pa.string()
        ).combine_chunks()
        first = first_occurrence(pa.table({column: keys}), [column])
        offset = 0
        for i, c in zip(indexes, columns, strict=True):
            masks[i] = first[offset : offset + len(c)]
            offset += len(c)
    return masks


def _add(counts: dict[str, int], name: str, value: int) -> None:
    if value:
        counts[name] = counts.get(name, 0) + value


def partition_province(
    customer_files: Sequence[StagedFile],
    account_files: Sequence[StagedFile],
    rates: pa.Table,
    export_filter: Decimal | None,
    *,
    drop_filtered: bool,
    buckets: int,
    out: Path,
) -> Partitioned:
    """Apply the conform rules to a province's staged files and cut it into `buckets`.

    Equivalent, record for record, to `conform_customers` + `conform_accounts` over the
    whole province; only the order differs (bucket by bucket, file order within one).
    """
    result = Partitioned(buckets, [], [], out / "rejects.parquet")
    rejects: list[pa.Table] = []

    customers = BucketWriters(out / "customers", buckets, SOURCE_CUSTOMER)
    numbers: dict[str, list[pa.Array]] = defaultdict(list)  # system -> kept cust_no slices
    number_buckets: dict[str, list[npt.NDArray[np.int32]]] = defaultdict(list)
    for f, first in zip(customer_files, _first_rows(customer_files, "cust_no"), strict=True):
        offset = 0
        for raw in _slices(f):
            table = customer_rows(raw, f)
            keep = first[offset : offset + table.num_rows]
            offset += table.num_rows
            if not keep.all():
                rejects.append(duplicate_customer_rejects(table.filter(pa.array(~keep)), [f]))
                table = table.filter(pa.array(keep))
            table = with_normalized_ids(table)
            bucket = identity_buckets(table, buckets)
            customers.write(table, bucket)
            _add(result.kept, f.source_path.name, table.num_rows)
            invalid = pc.sum(pc.invert(table.column("id_valid")).cast(pa.int64())).as_py()
            _add(result.flagged, f.source_path.name, int(invalid or 0))
            numbers[f.system].append(table.column("cust_no").combine_chunks())
            number_buckets[f.system].append(bucket)
    result.customers = customers.close()

    # Each system's kept customer numbers and their buckets: where an account goes.
    known_numbers = {s: pa.concat_arrays(a) for s, a in numbers.items()}
    known_buckets = {s: np.concatenate(b) for s, b in number_buckets.items()}
    del numbers, number_buckets

    account_schema = apply_account_rules(
        SOURCE_ACCOUNT.empty_table(),
        np.zeros(0, bool),
        np.zeros(0, bool),
        [],
        rates,
        export_filter,
        drop_filtered=drop_filtered,
    ).table.schema
    accounts = BucketWriters(out / "accounts", buckets, account_schema)
    for f, first in zip(account_files, _first_rows(account_files, "acct_no"), strict=True):
        owner = _owner_buckets(f, known_numbers, known_buckets)
        offset = 0
        for raw in _slices(f):
            table = account_rows(raw, f)
            n = table.num_rows
            table = table.append_column("__bucket", pa.array(owner[offset : offset + n]))
            conformed = apply_account_rules(
                table,
                first[offset : offset + n],
                owner[offset : offset + n] >= 0,
                [f],
                rates,
                export_filter,
                drop_filtered=drop_filtered,
            )
            offset += n
            kept = conformed.table
            bucket = kept.column("__bucket").to_numpy()
            accounts.write(kept.drop_columns(["__bucket"]), bucket)
            _add(result.kept, f.source_path.name, kept.num_rows)
            for name, count in conformed.filtered.items():
                _add(result.filtered, name, count)
            if conformed.rejects.num_rows:
                rejects.append(conformed.rejects)
    result.accounts = accounts.close()

    table = pa.concat_tables([r.cast(REJECT) for r in rejects]) if rejects else REJECT.empty_table()
    pq.write_table(table, result.rejects)
    return result


def _owner_buckets(
    f: StagedFile,
    known_numbers: dict[str, pa.Array],
    known_buckets: dict[str, npt.NDArray[np.int32]],
) -> npt.NDArray[np.int32]:
    """Per account row of `f`, the bucket of its customer, or -1 for an orphan."""
    column = pq.read_table(f.staged, columns=[_staged_name(f, "cust_no")]).column(0)
    cust_no = column.combine_chunks().cast(pa.string())
    if f.system not in known_numbers:
        return np.full(len(cust_no), -1, np.int32)
    position = pc.index_in(cust_no, value_set=known_numbers[f.system])
    found = position.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.full(len(found), -1, np.int32)
    hit = found >= 0
    owner[hit] = known_buckets[f.system][found[hit]]
    return owner
