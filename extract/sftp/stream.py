"""A plain download: the rest of the remote file appended to the partial file, in order.

The partial file stays a prefix of the remote file at every moment, so its size is where
a later attempt resumes (extract/sftp/partial.py). Receiving and writing overlap: the
receiving thread hands blocks to a writer thread (`_DiskWriter`).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko

from common.errors import FileRejected
from extract.sftp.job import Job, Progress
from extract.sftp.reader import RemoteFileEnded, newlines, read_range

# Blocks received but not yet written (about 16 MiB): bounds memory if the disk is slow.
QUEUE_BLOCKS = 64


@dataclass(frozen=True)
class Received:
    """The partial file after a download: its newlines, last byte, bytes received now."""

    lines: int
    last: int
    transferred: int


class _DiskWriter:
    """Writes received blocks to the partial file from a thread of its own.

    Why: writing a gigabyte into the page cache costs as much time as receiving it, and
    `write` releases the GIL; done in the receiving thread the two add up, here they
    overlap. Blocks are written in arrival order (a FIFO), so the partial file is always
    a prefix of the remote file. `progress` is called after each block is on disk.
    """

    def __init__(
        self,
        out: BinaryIO,
        name: str,
        position: int,
        total: int,
        progress: Progress | None,
        lines: int,
        last: int,
    ) -> None:
        self.out = out
        self.name = name
        self.position = position
        self.total = total
        self.progress = progress
        self.lines = lines
        self.last = last
        self.error: BaseException | None = None
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"{threading.current_thread().name}-disk", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self.out.write(data)
                self.lines += newlines(data)
                self.last = data[-1]
                self.position += len(data)
                if self.progress is not None:
                    self.progress(self.name, self.position, self.total)
        except BaseException as exc:  # handed to the receiving thread
            self.error = exc
            while self._queue.get() is not None:  # keep the producer from blocking
                pass

    def put(self, data: memoryview) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(data)

    def close(self) -> None:
        """Wait until every block handed over is written; re-raise a write error."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error


def download_rest(
    sftp: paramiko.SFTPClient,
    job: Job,
    part: Path,
    offset: int,
    lines: int,
    last: int,
    progress: Progress | None,
) -> Received:
    """Append the remote bytes `[offset, size)` to `part`, which holds `offset` bytes with
    `lines` newlines ending in byte `last`; the data is fsynced before returning.

    Raises FileRejected if the server's file ends early, paramiko/OS errors if the link
    fails (everything received is written first: the next attempt resumes after it)."""
    total = job.flag.size
    transferred = 0
    with sftp.open(job.remote_path, "rb") as remote, part.open("ab") as out:
        writer = _DiskWriter(out, job.name, offset, total, progress, lines, last)
        try:
            for data in read_range(sftp, remote, offset, total):
                writer.put(data)
                transferred += len(data)
        except RemoteFileEnded:
            writer.close()
            raise FileRejected(
                f"sftp:{job.remote_path}",
                f"the server's file ended at byte {writer.position} of {total}: not landed",
            ) from None
        finally:
            writer.close()  # everything received is written, even after a failure
        out.flush()
        os.fsync(out.fileno())
    return Received(writer.lines, writer.last, transferred)
