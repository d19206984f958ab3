"""What an amount looks like in a dump file's text, and the control sum of such amounts.

Shared by the flag check (the control sum of a file's raw amount text, `extract`) and the
typer (an amount field that is not well formed sets its record aside, `transform`): one
definition, so a file's control sum and its typed amounts can never disagree on a value.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from common.config import FieldSpec


def _amount_pattern(spec: FieldSpec) -> str:
    decimals = f"{{1,{spec.scale}}}" if spec.max_scale else f"{{{spec.scale}}}"
    return rf"^-?[0-9]{{1,18}}\.[0-9]{decimals}$"


def well_formed_amounts(values: pa.Array, spec: FieldSpec) -> pa.Array:
    """Boolean mask of the values that are amounts as the layout defines them."""
    return pc.fill_null(pc.match_substring_regex(values, _amount_pattern(spec)), False)


def control_sum(raw_values: pa.Array, spec: FieldSpec) -> Decimal:
    """Sum of the well-formed amounts of a control column (core-dumps.md section 8)."""
    values = pc.utf8_trim(raw_values, " ")
    ok = well_formed_amounts(values, spec)
    total = pc.sum(pc.cast(pc.filter(values, ok), pa.decimal128(38, spec.scale))).as_py()
    return Decimal(total) if total is not None else Decimal("0.00")
