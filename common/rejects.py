"""The one builder of REJECT rows (`common.schema.REJECT`): a record set aside, with why.

Records are set aside at ingestion (structure, type, duplicate key in the file), at
conform (cross-file duplicates, orphans, no FX rate) and in the daily run (TXN
duplicates). Each of them builds its rows here, so the table always has the same columns,
types and order, whether its values come as Arrow columns, Python lists or one value for
every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import pyarrow as pa

from common.schema import REJECT

# A column's values: an Arrow column, a Python sequence, or one value for every row.
Values: TypeAlias = pa.Array | pa.ChunkedArray | Sequence[object] | str | None


def _column(values: Values, name: str, n: int) -> pa.Array | pa.ChunkedArray:
    kind = REJECT.field(name).type
    if values is None or isinstance(values, str):
        return pa.repeat(pa.scalar(values, kind), n)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.array(values, kind)


def reject_rows(
    line: pa.Array | pa.ChunkedArray | Sequence[int],
    reason: Values,
    *,
    file: Values,
    branch: Values,
    raw: Values = "",
    field: Values = None,
) -> pa.Table:
    """REJECT rows, one per value of `line`; every other argument is a column of as many
    values or one value for all. `raw` empty means "to be quoted later" (the line as sent
    is read from the landed file once per file, by the caller's raw-line lookup)."""
    lines = _column(line, "line", 0)
    n = len(lines)
    return pa.table(
        {
            "file": _column(file, "file", n),
            "line": lines,
            "raw": _column(raw, "raw", n),
            "reason": _column(reason, "reason", n),
            "field": _column(field, "field", n),
            "branch": _column(branch, "branch", n),
        },
        schema=REJECT,
    )
