"""A download in progress: the `.partial/` files of one data file, and what can be kept.

A file is downloaded into `{dir}/.partial/{name}.dat` beside the flag text it belongs to
(`.partial/{name}.ok`), so a later attempt knows which version of the file the bytes are
of: bytes are kept only if the server's flag is still the same (a re-send restarts).

A plain download keeps the partial file a prefix of the remote file, so its size says
where to resume. A split download (extract/sftp/ranged.py) writes ranges in place into a
full-length sparse file, so a sidecar `.partial/{stem}.ranges` records, per range,
`start done end`: bytes `[start, done)` are on disk. The sidecar is written before the
first byte and rewritten only after the bytes it claims were written and synced, so it
never claims more than the file holds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from extract.sftp.job import Job
from extract.sftp.names import PARTIAL_DIR, inside, ok_name
from extract.sftp.reader import newlines

log = logging.getLogger(__name__)

RANGES_SUFFIX = ".ranges"
# Bytes read at a time when counting the lines already on disk.
READ_BLOCK = 8 * 1024 * 1024

#: A range of a split download: [start, done, end]; bytes [start, done) are on disk.
Segment = list[int]


@dataclass(frozen=True)
class Partial:
    """The three `.partial/` files of one job: data, flag text, range sidecar."""

    data: Path
    flag: Path
    ranges: Path

    @classmethod
    def of(cls, job: Job) -> Partial:
        """The job's partial files (the `.partial/` folder is created if needed)."""
        folder = job.local_dir / PARTIAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return cls(
            inside(folder, job.name),
            inside(folder, ok_name(job.name)),
            folder / (job.name[: -len(".dat")] + RANGES_SUFFIX),
        )

    def start(self, job: Job, segments: list[Segment] | None = None) -> None:
        """Begin anew: the flag text, then an empty data file; for a split download the
        sidecar first and a sparse full-length file (never to be read as a prefix)."""
        self.flag.write_text(job.flag_text, encoding="ascii")
        if segments:
            self.save_segments(segments)
        with self.data.open("wb") as out:
            out.truncate(segments[-1][2] if segments else 0)

    def discard(self) -> None:
        for path in (self.data, self.flag, self.ranges):
            path.unlink(missing_ok=True)

    def _size_if_same_version(self, job: Job) -> int | None:
        """The data file's size if its flag text is the job's, else None."""
        try:
            same_flag = self.flag.read_text(encoding="ascii") == job.flag_text
            size = self.data.stat().st_size
        except (OSError, UnicodeDecodeError):
            return None
        return size if same_flag else None

    def kept_prefix(self, job: Job) -> int:
        """Bytes of a plain partial file that can be kept (same version, not too long);
        anything else is discarded and 0 returned."""
        size = self._size_if_same_version(job)
        if size is not None and size <= job.flag.size:
            return size
        if self.data.exists() or self.flag.exists():
            log.info("discarding partial %s: the file was re-sent or is too long", self.data)
        self.discard()
        return 0

    def kept_segments(self, job: Job) -> list[Segment] | None:
        """The sidecar's ranges if it belongs to this version of the file and is
        consistent; None without a sidecar. An unusable sidecar is discarded with the
        (sparse, so unusable) partial file."""
        if not self.ranges.exists():
            return None
        size = self._size_if_same_version(job)
        try:
            segments = [
                [int(x) for x in line.split()]
                for line in self.ranges.read_text(encoding="ascii").splitlines()
                if line.strip()
            ]
        except (OSError, ValueError, UnicodeDecodeError):
            segments = []
        if size == job.flag.size and _tiles(segments, job.flag.size):
            return segments
        log.info("discarding partial %s: re-sent file or inconsistent range sidecar", self.data)
        self.discard()
        return None

    def save_segments(self, segments: list[Segment]) -> None:
        """Replace the sidecar atomically (the caller has synced the bytes it claims)."""
        tmp = self.ranges.with_name(self.ranges.name + ".tmp")
        tmp.write_text("".join(f"{s} {d} {e}\n" for s, d, e in segments), encoding="ascii")
        os.replace(tmp, self.ranges)


def _tiles(segments: list[Segment], total: int) -> bool:
    """True if `segments` are well-formed ranges tiling `[0, total)` in order."""
    return (
        bool(segments)
        and all(len(s) == 3 and s[0] <= s[1] <= s[2] for s in segments)
        and segments[0][0] == 0
        and segments[-1][2] == total
        and all(a[2] == b[0] for a, b in zip(segments, segments[1:], strict=False))
    )


def count_lines(path: Path, start: int, end: int) -> tuple[int, int]:
    """(newlines, last byte or -1) of the bytes `[start, end)` of `path`."""
    lines, last = 0, -1
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            block = handle.read(min(READ_BLOCK, remaining))
            if not block:
                break
            lines += newlines(block)
            last = block[-1]
            remaining -= len(block)
    return lines, last


def last_byte(path: Path, size: int) -> int:
    """The byte at `size - 1` of `path`, -1 for an empty file."""
    return count_lines(path, size - 1, size)[1] if size else -1
