"""Verify a downloaded file against its flag, then rename it into the landing zone.

The landing zone's contract is "a `.dat` is complete when its `.ok` is there". So the
partial file is checked against its flag (bytes, records, control sum), then renamed into
place: old `.ok` removed first, new `.dat` renamed, new `.ok` renamed last. At no moment
does a landed `.ok` describe another `.dat`.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import FileRejected
from extract.flag import Flag, check_against_flag
from extract.sftp.job import Job
from extract.sftp.names import inside, ok_name
from extract.sftp.partial import Partial
from extract.verify import verify_against_flag


def landed_paths(job: Job) -> tuple[Path, Path]:
    """The job's landed `.dat` and `.ok`, proven to stay inside its landing folder."""
    return inside(job.local_dir, job.name), inside(job.local_dir, ok_name(job.name))


def already_landed(job: Job) -> bool:
    """The same flag is landed with a data file of the flag's size: nothing to do."""
    final, final_ok = job.local_dir / job.name, job.local_dir / ok_name(job.name)
    try:
        return final_ok.read_text(encoding="ascii") == job.flag_text and (
            final.stat().st_size == job.flag.size
        )
    except (OSError, UnicodeDecodeError):
        return False


def verify(
    path: Path, flag: Flag, lines: int, last: int, where: str, control_sum: bool = True
) -> None:
    """Bytes and records (counted while downloading) against the flag, then the layout-
    aware check of the whole file (`extract.verify.verify_against_flag`: records and
    control sum) unless `control_sum` is False; FileRejected naming `where` otherwise.

    `path` keeps the data file's real name (in `.partial/`), as the layout is found from
    it. A file that cannot be checked at all (unknown layout, say) is rejected too: an
    unverifiable file must not be landed."""
    size = path.stat().st_size
    records = lines + (1 if size and last != ord("\n") else 0)
    check_against_flag(where, flag, size=size, records=records)
    if not control_sum:
        return
    try:
        verify_against_flag(path, flag)
    except FileRejected as exc:
        raise FileRejected(where, exc.reason) from None
    except (KeyError, ValueError, LookupError) as exc:
        raise FileRejected(where, f"control sum cannot be checked: {exc}") from None


def move_into_place(partial: Partial, job: Job) -> bool:
    """Rename the verified partial pair into the landing folder; True if it replaced a
    landed version. The sidecar goes first: from then on the partial file is a plain
    (full-length) prefix, whatever happens."""
    final, final_ok = landed_paths(job)
    partial.ranges.unlink(missing_ok=True)
    replaced = final_ok.exists() or final.exists()
    final_ok.unlink(missing_ok=True)  # the old flag goes first: never a flag for another file
    os.replace(partial.data, final)
    os.replace(partial.flag, final_ok)
    _fsync_dir(job.local_dir)
    return replaced


def withdraw(job: Job) -> bool:
    """Remove the landed pair (its re-send was refused at the source); True if there was
    one. The flag goes first, as always."""
    final, final_ok = landed_paths(job)
    if not final_ok.exists():
        return False
    final_ok.unlink(missing_ok=True)
    final.unlink(missing_ok=True)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
