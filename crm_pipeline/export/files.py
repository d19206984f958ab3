"""Write one export file and its `.ok` flag, so that a reader never sees a partial one.

The data goes to `.{name}.dat.part` in the same folder (fsync'ed), the old flag (a
re-export) is removed, the data is renamed onto `{name}.dat`, and the flag
`name|bytes|records|control sum` (extract/flag.py's format, the core systems' own) is
written the same way, last. The records are the lines written, the control sum the exact
sum of the layout's control column (two decimals; `0.00` for files without one, as the
core systems' customer files), and the SHA-256 is kept for the push's verification.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm_pipeline.export.layout import ExportLayout, line_writer
from extract.flag import Flag, flag_path, parse_flag

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export, as written, and its flag."""

    path: Path
    flag: Flag
    sha256: str

    @property
    def flag_path(self) -> Path:
        return flag_path(self.path)


def _replace(tmp: Path, final: Path, data: bytes | None = None) -> None:
    if data is not None:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, final)


def write_export_file(
    folder: Path, name: str, layout: ExportLayout, chunks: Iterable[Sequence[tuple[Any, ...]]]
) -> ExportedFile:
    """Write the rows of `chunks` (in order) as `folder/name` with its flag."""
    final = folder / name
    tmp = folder / f".{name}.part"
    write_line = line_writer(layout)
    control = layout.names.index(layout.control) if layout.control else None
    digest = hashlib.sha256()
    size = records = 0
    total = Decimal("0.00")
    with tmp.open("wb") as handle:
        for rows in chunks:
            data = "".join(write_line(row) for row in rows).encode("utf-8")
            handle.write(data)
            digest.update(data)
            size += len(data)
            records += len(rows)
            if control is not None:
                total += sum((row[control] for row in rows), Decimal(0))
        handle.flush()
        os.fsync(handle.fileno())
    flag = parse_flag(f"{name}|{size}|{records}|{total.quantize(CENT)}", f"flag of {final}")
    if total != total.quantize(CENT):  # money columns have 2 decimals: never rounded
        raise ValueError(f"{final}: control sum {total} has more than 2 decimals")
    ok = flag_path(final)
    with contextlib.suppress(FileNotFoundError):
        ok.unlink()  # the old flag first: it must never describe the new data
    _replace(tmp, final)
    _replace(folder / f".{ok.name}.part", ok, (flag.text() + "\n").encode("ascii"))
    return ExportedFile(final, flag, digest.hexdigest())
