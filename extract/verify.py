"""Whole-file verification against the `.ok` flag, for files fetched before they are staged.

The record count and control sum need the layout (the control column's place), so this
runs the same chunked parser the transform stage uses, without staging anything.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from common.config import LayoutConfig, layouts
from common.errors import FileRejected
from extract.flag import Flag
from extract.landing import parse_name
from transform.fields import control_sum
from transform.parse import iter_raw_chunks


def verify_against_flag(dat_path: Path, flag: Flag, config: LayoutConfig | None = None) -> None:
    """Raise FileRejected unless bytes, record count and control sum agree with `flag`."""
    config = config or layouts()
    size = dat_path.stat().st_size
    if size != flag.size:
        raise FileRejected(dat_path.name, f"{size} bytes, flag says {flag.size}")
    system, entity, _, _ = parse_name(flag.data_file)
    layout = config.layout_for(system, entity)
    records = 0
    control = Decimal("0.00")
    spec = next((f for f in layout.fields if f.name == layout.control), None)
    for raw in iter_raw_chunks(dat_path, layout):
        records += raw.read
        if spec is not None:
            control += control_sum(raw.columns[spec.name], spec)
    if records != flag.records:
        raise FileRejected(dat_path.name, f"{records} records, flag says {flag.records}")
    if control != flag.control_sum:
        raise FileRejected(dat_path.name, f"control sum {control}, flag says {flag.control_sum}")


# The name the SFTP fetcher looks for.
verify_control_sum = verify_against_flag
