"""The layouts' own expectations (config/layouts.yaml), measured on the staged kept records
of each data file: declared types, code sets, non-null keys and required fields, unique
keys. Like the other metrics, a few narrow columns are read with pyarrow and reduced to
one count per file, column and check; Great Expectations then validates those counts.

Ingest applies the same rules to each line it parses (a field of the wrong type, an
unknown code, a missing required value, every record of a key sent twice in one file are
set aside): on a night the pipeline computed, the kept records satisfy them. What these
counts catch is a staged file that does not: one reused from a run under another
layouts.yaml or another code version, a step that wrote what it should not, a required
date or amount the parser keeps as unknown (null) where the layout declares it required.
docs/quality.md, "Layout expectations".
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.config import FieldSpec, LayoutConfig
from common.intermediate import is_ipc, read_schema, read_table
from transform.conform import StagedFile
from transform.fields import amount_type

TYPES, CODES, REQUIRED, UNIQUE = "layout_types", "layout_codes", "layout_required", "layout_unique"
LAYOUT_CHECKS = (TYPES, CODES, REQUIRED, UNIQUE)


@dataclass(frozen=True)
class LayoutMetric:
    file: str
    column: str  # the field (a key of several fields: joined with "+"; "*": the file)
    check: str  # one of LAYOUT_CHECKS
    rows: int
    violations: int  # rows breaking the declaration (types: fields); 0 when it holds
    example: str  # one breaking value (types: the fields staged otherwise); "" when none


def _arrow_type(spec: FieldSpec) -> pa.DataType:
    """The staged column's type for a field of the layout (what transform.fields writes)."""
    if spec.type == "date":
        return pa.date32()
    if spec.type == "amount":
        return amount_type(spec)
    if spec.type == "int":
        return pa.int32()
    return pa.string()


def _repeated(keys: pa.Table) -> tuple[int, str]:
    """(rows whose key an earlier row has, one such key). A single-column key is sorted
    and compared with its neighbour (Arrow's sort of a string column: about 3x cheaper
    than hashing it byte by byte, transform.hashing, or a hash table of the strings)."""
    names = keys.column_names
    if keys.num_columns == 1:
        column = keys.column(0)
        if len(column) < 2:
            return 0, ""
        ordered = column.take(pc.sort_indices(column))
        same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
        repeated = int(pc.sum(same).as_py() or 0)
        example = str(pc.filter(ordered.slice(1), same)[0].as_py()) if repeated else ""
        return repeated, example
    counted = keys.group_by(names).aggregate([([], "count_all")])
    repeated = keys.num_rows - counted.num_rows
    if not repeated:
        return 0, ""
    first = counted.filter(pc.greater(counted.column("count_all"), 1)).slice(0, 1)
    return repeated, "|".join(str(first.column(k)[0].as_py()) for k in names)


def _codes_outside(path: Path, column: str, canonical: pa.Array) -> tuple[int, str]:
    """(values of `column` outside `canonical` or null, the first such value). Read as a
    dictionary from Parquet: the check looks at each chunk's few distinct values, and
    counts rows only when one is outside."""
    if is_ipc(path):
        values = read_table(path, [column]).column(column).dictionary_encode()
    else:
        values = pq.read_table(path, columns=[column], read_dictionary=[column], use_threads=False)
        values = values.column(column)
    outside, example = 0, ""
    for chunk in values.chunks:
        outside += chunk.null_count
        bad = pc.invert(pc.fill_null(pc.is_in(chunk.dictionary, value_set=canonical), False))
        if pc.any(bad).as_py():
            bad_codes = pc.indices_nonzero(bad)
            example = example or str(chunk.dictionary[bad_codes[0].as_py()].as_py())
            outside += int(pc.sum(pc.is_in(chunk.indices, value_set=bad_codes)).as_py() or 0)
    return outside, example


def _nulls(path: Path, column: str) -> int:
    """Nulls in `column`: from the Parquet statistics when every row group has them."""
    if not is_ipc(path):
        meta = pq.ParquetFile(path).metadata
        index = meta.schema.to_arrow_schema().get_field_index(column)
        stats = [meta.row_group(g).column(index).statistics for g in range(meta.num_row_groups)]
        if all(s is not None and s.has_null_count for s in stats):
            return sum(int(s.null_count) for s in stats if s is not None)
    return read_table(path, [column]).column(column).null_count


def file_layout_metrics(data: StagedFile, codes: LayoutConfig) -> list[LayoutMetric]:
    """Every declaration of the file's layout, counted on its staged records."""
    path = data.staged
    schema = read_schema(path)
    fields = [f for f in data.layout.fields if f.name in schema.names]
    keys = list(data.layout.key)
    required = sorted(({f.name for f in fields if f.required} | set(keys)) & set(schema.names))
    table = read_table(path, [k for k in keys if k in schema.names])
    rows = table.num_rows
    out: list[LayoutMetric] = []

    def add(column: str, check: str, violations: int, example: str = "") -> None:
        out.append(LayoutMetric(data.source_path.name, column, check, rows, violations, example))

    wrong = [
        f"{f.name} staged as {schema.field(f.name).type}, declared {f.type}"
        for f in fields
        if schema.field(f.name).type != _arrow_type(f)
    ]
    missing = [f"{f.name} not staged" for f in data.layout.fields if f.name not in schema.names]
    add("*", TYPES, len(wrong) + len(missing), "; ".join([*missing, *wrong][:3]))
    # A code field staged as another type is reported by layout_types alone.
    for spec in (
        f for f in fields if f.type == "code" and schema.field(f.name).type == pa.string()
    ):
        canonical = pa.array(sorted(set(codes.code_values(spec.codes or "").values())))
        add(spec.name, CODES, *_codes_outside(path, spec.name, canonical))
    for column in required:
        add(column, REQUIRED, _nulls(path, column))
    if keys and table.num_columns == len(keys):
        add("+".join(keys), UNIQUE, *_repeated(table))
    return out


def layout_metrics(files: Sequence[StagedFile], codes: LayoutConfig) -> list[LayoutMetric]:
    """The counts of every staged data file, in file order; two files at a time (Arrow's
    reads and sorts release the GIL, and the run's worker processes are done by then)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="layout-metrics") as pool:
        counted = list(pool.map(lambda data: file_layout_metrics(data, codes), files))
    return [m for metrics in counted for m in metrics]
