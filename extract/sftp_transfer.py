"""One file: download to `.partial/`, resume from what is on disk, verify, rename.

The landing zone's contract is "a `.dat` is complete when its `.ok` is there". So a file is
written under `{dir}/.partial/{name}.dat` next to the flag text it belongs to
(`.partial/{name}.ok`), verified against that flag (bytes, line count, control sum when
`extract.verify` provides it), then renamed into place: old `.ok` removed first, new `.dat`
renamed, new `.ok` renamed last. At no moment does a landed `.ok` describe another `.dat`.

A cut connection leaves the partial file and its flag; the next attempt continues from
the partial file's size if the remote flag is still the same (a re-send restarts).
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import paramiko

from crm_pipeline.errors import FileRejected
from extract.flag import Flag
from extract.sftp_errors import UnsafeRemoteName
from extract.sftp_paths import PARTIAL_DIR, check_regular, inside, ok_name
from extract.sftp_reader import RemoteFileEnded, read_range

log = logging.getLogger(__name__)

# Bytes per SFTP read request. OpenSSH's sftp-server answers reads of up to 255 KiB;
# fewer, larger requests mean far less Python work per byte than paramiko's 32 KiB default.
REQUEST_SIZE = 252 * 1024
# Read requests in flight per file: 8 MiB. OpenSSH's client keeps 64 requests of up to
# 255 KiB. More is not better here: paramiko's channel buffer moves its whole unread
# content on every read, so bytes in flight beyond what hides the link's latency cost CPU.
MAX_REQUESTS = 32
WRITE_BLOCK = 8 * 1024 * 1024
# Blocks received but not yet written (about 16 MiB): bounds memory if the disk is slow.
QUEUE_BLOCKS = 64

Progress = Callable[[str, int, int], None]  # (file name, bytes on disk, total bytes)
Status = Literal["downloaded", "resumed", "replaced", "unchanged"]


@dataclass(frozen=True)
class FetchedFile:
    """What happened to one data file."""

    name: str
    path: Path
    status: Status
    size: int
    resumed_from: int = 0
    bytes_transferred: int = 0


@dataclass(frozen=True)
class Job:
    """A data file whose flag is on the server, with that flag's text and content."""

    name: str
    remote_path: str
    local_dir: Path
    flag_text: str
    flag: Flag


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
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"{threading.current_thread().name}-disk", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self.out.write(data)
                self.lines += data.count(b"\n")
                self.last = data[-1]
                self.position += len(data)
                if self.progress is not None:
                    self.progress(self.name, self.position, self.total)
        except BaseException as exc:  # handed to the receiving thread
            self.error = exc
            while self._queue.get() is not None:  # keep the producer from blocking
                pass

    def put(self, data: bytes) -> None:
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


def _count_lines(path: Path, size: int) -> tuple[int, int]:
    """(newlines, last byte) of the first `size` bytes of `path`."""
    lines, last = 0, -1
    with path.open("rb") as handle:
        remaining = size
        while remaining:
            block = handle.read(min(WRITE_BLOCK, remaining))
            if not block:
                break
            lines += block.count(b"\n")
            last = block[-1]
            remaining -= len(block)
    return lines, last


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def control_sum_hook() -> Callable[[Path, Flag], Any] | None:
    """`extract.verify.verify_control_sum(dat_path, flag)` when that module provides it.

    HOOK: the control sum needs the layouts, so its check lives in extract/verify.py (the
    lead engineer's module), which raises FileRejected on a mismatch. Without that module
    the control sum is still checked at parse time (docs/architecture.md).
    """
    try:
        module = importlib.import_module("extract.verify")
    except ModuleNotFoundError as exc:
        if exc.name != "extract.verify":
            raise
        return None
    hook = getattr(module, "verify_control_sum", None)
    return hook if callable(hook) else None


def verify(
    path: Path, flag: Flag, lines: int, last: int, where: str, control_sum: bool = True
) -> None:
    """Bytes, line count and (via the hook) control sum against the flag, or FileRejected.

    `path` keeps the data file's real name (in `.partial/`), as the hook derives the
    layout from it. A hook that cannot read the file at all (unknown layout, say) rejects
    the file too: an unverifiable file must not be landed."""
    size = path.stat().st_size
    if size != flag.size:
        raise FileRejected(where, f"{size} bytes received, the flag says {flag.size}")
    records = lines + (1 if size and last != ord("\n") else 0)
    if records != flag.records:
        raise FileRejected(where, f"{records} records (lines), the flag says {flag.records}")
    hook = control_sum_hook() if control_sum else None
    if hook is None:
        return
    try:
        result = hook(path, flag)
    except FileRejected as exc:
        raise FileRejected(where, exc.reason) from None
    except (KeyError, ValueError, LookupError) as exc:
        raise FileRejected(where, f"control sum cannot be checked: {exc}") from None
    if result is False:
        raise FileRejected(where, f"control sum differs from the flag's {flag.control_sum}")


def already_landed(job: Job) -> bool:
    """The same flag is landed with a data file of the flag's size: nothing to do."""
    final = job.local_dir / job.name
    final_ok = job.local_dir / ok_name(job.name)
    try:
        return final_ok.read_text(encoding="ascii") == job.flag_text and (
            final.stat().st_size == job.flag.size
        )
    except (OSError, UnicodeDecodeError):
        return False


def fetch_file(
    sftp: paramiko.SFTPClient,
    job: Job,
    progress: Progress | None = None,
    control_sum: bool = True,
) -> FetchedFile:
    """Land one data file (see the module docstring). Raises FileRejected when the remote
    file disagrees with its flag, and paramiko/OS errors when the link fails (the partial
    file stays for the next attempt)."""
    final = inside(job.local_dir, job.name)
    final_ok = inside(job.local_dir, ok_name(job.name))
    if already_landed(job):
        return FetchedFile(job.name, final, "unchanged", job.flag.size)
    try:
        return _fetch(sftp, job, final, final_ok, progress, control_sum)
    except (FileRejected, UnsafeRemoteName):
        # The server now holds another version (a re-send) and it is refused: the version
        # landed before is withdrawn too, or later steps would load what was replaced.
        if final_ok.exists():
            log.warning("withdrawing %s: its re-send was refused", final)
            final_ok.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
        raise


def _fetch(
    sftp: paramiko.SFTPClient,
    job: Job,
    final: Path,
    final_ok: Path,
    progress: Progress | None,
    control_sum: bool,
) -> FetchedFile:
    where = f"sftp:{job.remote_path}"

    attrs = sftp.lstat(job.remote_path)
    check_regular(job.name, attrs)
    if attrs.st_size != job.flag.size:
        raise FileRejected(
            where,
            f"the server's file has {attrs.st_size} bytes, its flag says {job.flag.size}: "
            "truncated or still being written; not landed (the sender must re-send it)",
        )

    partial_dir = job.local_dir / PARTIAL_DIR
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = inside(partial_dir, job.name)
    part_ok = inside(partial_dir, ok_name(job.name))
    offset = _resume_offset(part, part_ok, job)
    if offset:
        lines, last = _count_lines(part, offset)
    else:
        part_ok.write_text(job.flag_text, encoding="ascii")
        part.write_bytes(b"")
        lines, last = 0, -1

    transferred = 0
    total = job.flag.size
    if offset < total:
        with sftp.open(job.remote_path, "rb") as remote, part.open("ab") as out:
            writer = _DiskWriter(out, job.name, offset, total, progress, lines, last)
            try:
                for data in read_range(sftp, remote, offset, total, REQUEST_SIZE, MAX_REQUESTS):
                    writer.put(data)
                    transferred += len(data)
            except RemoteFileEnded:
                writer.close()
                raise FileRejected(
                    where,
                    f"the server's file ended at byte {writer.position} of {total}: not landed",
                ) from None
            finally:
                writer.close()  # everything received is written, even after a failure
            lines, last = writer.lines, writer.last
            out.flush()
            os.fsync(out.fileno())

    try:
        verify(part, job.flag, lines, last, where, control_sum)
    except FileRejected:
        part.unlink(missing_ok=True)
        part_ok.unlink(missing_ok=True)
        raise

    replaced = final_ok.exists() or final.exists()
    final_ok.unlink(missing_ok=True)  # the old flag goes first: never a flag for another file
    os.replace(part, final)
    os.replace(part_ok, final_ok)
    _fsync_dir(job.local_dir)
    status: Status = "replaced" if replaced else ("resumed" if offset else "downloaded")
    log.info(
        "landed %s (%d bytes, %s%s)",
        final,
        total,
        status,
        f" from byte {offset}" if offset else "",
    )
    return FetchedFile(job.name, final, status, total, offset, transferred)


def _resume_offset(part: Path, part_ok: Path, job: Job) -> int:
    """Bytes of `part` that can be kept: same flag (same file version) and not too long."""
    try:
        same_flag = part_ok.read_text(encoding="ascii") == job.flag_text
        size = part.stat().st_size
    except (OSError, UnicodeDecodeError):
        return 0
    if same_flag and size <= job.flag.size:
        return size
    log.info("discarding partial %s: the file was re-sent or the partial is too long", part)
    part.unlink(missing_ok=True)
    part_ok.unlink(missing_ok=True)
    return 0
