"""Write an export's files and their `.ok` flags, so that a reader never sees a partial one.

Every data file goes to `.{name}.dat.part` in the same folder first (fsync'ed); only when
all are written are the old flags removed (a re-export), the data renamed onto
`{name}.dat`, and the flags `name|bytes|records|control sum` (extract/flag.py's format,
the core systems' own) written the same way, last. A refused row leaves the previous
export, if any, as it was. The records are the lines written, the control sum the exact
sum of the layout's control column (two decimals; `0.00` for files without one, as the
core systems' customer files), and the SHA-256 of each file is reported with it.
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


def _fsynced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True)
class StagedFile:
    """A file written under its temporary name, not yet in place."""

    tmp: Path
    final: Path
    flag: Flag
    sha256: str


def stage_file(
    folder: Path, name: str, layout: ExportLayout, chunks: Iterable[Sequence[tuple[Any, ...]]]
) -> StagedFile:
    """Write the rows of `chunks` (in order) to `folder/.{name}.part`; remove it and raise
    if a row cannot be written (ExportRefused)."""
    final = folder / name
    tmp = folder / f".{name}.part"
    write_line = line_writer(layout)
    control = layout.names.index(layout.control) if layout.control else None
    digest = hashlib.sha256()
    size = records = 0
    total = Decimal("0.00")
    try:
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # money columns have 2 decimals (layout.py refuses more), so the sum is never rounded
    flag = parse_flag(f"{name}|{size}|{records}|{total.quantize(CENT)}", f"flag of {final}")
    return StagedFile(tmp, final, flag, digest.hexdigest())


def discard(staged: Iterable[StagedFile]) -> None:
    """Remove the temporary files of an export that will not be completed."""
    for file in staged:
        file.tmp.unlink(missing_ok=True)


def commit_files(staged: Sequence[StagedFile]) -> list[ExportedFile]:
    """Put staged files in place: every old flag removed first (a re-export: an old flag
    must never describe new data), the data files renamed, then the flags, in order."""
    for file in staged:
        with contextlib.suppress(FileNotFoundError):
            flag_path(file.final).unlink()
    for file in staged:
        os.replace(file.tmp, file.final)
    done = []
    for file in staged:
        ok = flag_path(file.final)
        tmp_ok = ok.with_name(f".{ok.name}.part")
        _fsynced(tmp_ok, (file.flag.text() + "\n").encode("ascii"))
        os.replace(tmp_ok, ok)
        done.append(ExportedFile(file.final, file.flag, file.sha256))
    return done
