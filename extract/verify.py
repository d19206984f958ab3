"""Whole-file verification against the `.ok` flag, for files fetched before they are staged.

The record count and control sum need the layout (the control column's place), so this
runs the same chunked reader ingestion uses (`extract.records`), without staging anything.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from common.config import LayoutConfig, layouts
from extract.flag import Flag, check_against_flag
from extract.landing import parse_name
from extract.records import iter_raw_chunks


def verify_against_flag(dat_path: Path, flag: Flag, config: LayoutConfig | None = None) -> None:
    """Raise FileRejected unless bytes, record count and control sum agree with `flag`."""
    config = config or layouts()
    check_against_flag(dat_path.name, flag, size=dat_path.stat().st_size)
    system, entity, _, _ = parse_name(flag.data_file)
    layout = config.layout_for(system, entity)
    records = 0
    control = Decimal("0.00")
    for raw in iter_raw_chunks(dat_path, layout):
        records += raw.read
        control += raw.control_sum(layout)
    check_against_flag(dat_path.name, flag, records=records, control_sum=control)
