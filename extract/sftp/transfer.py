"""One file: download to `.partial/`, resume from what is on disk, verify, rename.

The steps, each in its own module: what of an earlier attempt can be kept
(extract/sftp/partial.py), the download itself, plain (stream.py) or split over several
connections (ranged.py), then verify-then-rename (commit.py). A cut connection leaves
the partial file and its flag; the next attempt continues from them if the remote flag
is still the same (a re-send restarts).
"""

from __future__ import annotations

import logging

import paramiko

from common.errors import FileRejected
from extract.sftp.commit import already_landed, landed_paths, move_into_place, verify, withdraw
from extract.sftp.errors import UnsafeRemoteName
from extract.sftp.job import FetchedFile, Job, Progress, Status
from extract.sftp.names import check_regular
from extract.sftp.partial import Partial, count_lines, last_byte
from extract.sftp.ranged import Ranged, download_segments, split
from extract.sftp.stream import download_rest

log = logging.getLogger(__name__)


def fetch_file(
    sftp: paramiko.SFTPClient,
    job: Job,
    progress: Progress | None = None,
    control_sum: bool = True,
    ranged: Ranged | None = None,
) -> FetchedFile:
    """Land one data file (see the module docstring). Raises FileRejected when the remote
    file disagrees with its flag, and paramiko/OS errors when the link fails (the partial
    file stays for the next attempt)."""
    final, _ = landed_paths(job)
    if already_landed(job):
        return FetchedFile(job.name, final, "unchanged", job.flag.size)
    try:
        return _fetch(sftp, job, progress, control_sum, ranged)
    except (FileRejected, UnsafeRemoteName):
        # The server now holds another version (a re-send) and it is refused: the version
        # landed before is withdrawn too, or later steps would load what was replaced.
        if withdraw(job):
            log.warning("withdrawing %s: its re-send was refused", final)
        raise


def _fetch(
    sftp: paramiko.SFTPClient,
    job: Job,
    progress: Progress | None,
    control_sum: bool,
    ranged: Ranged | None,
) -> FetchedFile:
    where = f"sftp:{job.remote_path}"
    total = job.flag.size
    attrs = sftp.lstat(job.remote_path)
    check_regular(job.name, attrs)
    if attrs.st_size != total:
        raise FileRejected(
            where,
            f"the server's file has {attrs.st_size} bytes, its flag says {total}: "
            "truncated or still being written; not landed (the sender must re-send it)",
        )

    partial = Partial.of(job)
    segments = partial.kept_segments(job)
    offset = 0 if segments is not None else partial.kept_prefix(job)
    if segments is None and not offset:
        if ranged is not None and ranged.splits(total):
            segments = split(total, ranged.connections)
        partial.start(job, segments)

    transferred = 0
    if segments is not None:
        offset = sum(done - start for start, done, _ in segments)  # bytes already on disk
        lines = sum(count_lines(partial.data, start, done)[0] for start, done, _ in segments)
        got_lines, transferred = download_segments(sftp, job, partial, segments, ranged, progress)
        lines += got_lines
        last = last_byte(partial.data, total)
    else:
        lines, last = count_lines(partial.data, 0, offset)
        if offset < total:
            received = download_rest(sftp, job, partial.data, offset, lines, last, progress)
            lines, last, transferred = received.lines, received.last, received.transferred

    try:
        verify(partial.data, job.flag, lines, last, where, control_sum)
    except FileRejected:
        partial.discard()
        raise
    replaced = move_into_place(partial, job)
    status: Status = "replaced" if replaced else ("resumed" if offset else "downloaded")
    log.info(
        "landed %s (%d bytes, %s%s)",
        landed_paths(job)[0],
        total,
        status,
        f" from byte {offset}" if offset else "",
    )
    return FetchedFile(job.name, landed_paths(job)[0], status, total, offset, transferred)
