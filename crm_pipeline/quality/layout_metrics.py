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
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from common.config import FieldSpec, LayoutConfig
from common.intermediate import read_schema, read_table
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


def _first(values: pa.ChunkedArray | pa.Array, mask: pa.ChunkedArray | pa.Array) -> str:
    """The first value where `mask` is true, as text ("" when none)."""
    picked = pc.filter(values, mask)
    return "" if len(picked) == 0 else str(picked[0].as_py())


def file_layout_metrics(data: StagedFile, codes: LayoutConfig) -> list[LayoutMetric]:
    """Every declaration of the file's layout, counted on its staged records."""
    schema = read_schema(data.staged)
    fields = [f for f in data.layout.fields if f.name in schema.names]
    keys = list(data.layout.key)
    required = {f.name for f in fields if f.required} | set(keys)
    coded = [f for f in fields if f.type == "code"]
    wanted = list(dict.fromkeys([*keys, *(f.name for f in coded), *sorted(required)]))
    table = read_table(data.staged, [c for c in wanted if c in schema.names])
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
    for spec in coded:
        values = table.column(spec.name)
        canonical = pa.array(sorted(set(codes.code_values(spec.codes or "").values())))
        outside = pc.invert(pc.fill_null(pc.is_in(values, value_set=canonical), False))
        add(spec.name, CODES, int(pc.sum(outside).as_py() or 0), _first(values, outside))
    for column in sorted(required & set(table.column_names)):
        add(column, REQUIRED, table.column(column).null_count)
    if keys and all(k in table.column_names for k in keys):
        if len(keys) == 1:
            distinct = pc.count_distinct(table.column(keys[0]), mode="all").as_py()
        else:
            distinct = table.select(keys).group_by(keys).aggregate([]).num_rows
        repeated = rows - int(distinct)
        example = ""
        if repeated:
            counted = table.select(keys).group_by(keys).aggregate([([], "count_all")])
            first = counted.filter(pc.greater(counted.column("count_all"), 1)).slice(0, 1)
            example = "|".join(str(first.column(k)[0].as_py()) for k in keys)
        add("+".join(keys), UNIQUE, repeated, example)
    return out


def layout_metrics(files: Sequence[StagedFile], codes: LayoutConfig) -> list[LayoutMetric]:
    """The counts of every staged data file, in file order."""
    return [m for data in files for m in file_layout_metrics(data, codes)]
