"""One file: download to `.partial/`, resume from what is on disk, verify, rename.

The landing zone's contract is "a `.dat` is complete when its `.ok` is there". So a file is
written under `{dir}/.partial/{name}.dat` next to the flag text it belongs to
(`.partial/{name}.ok`), verified against that flag (bytes, line count, control sum when
`extract.verify` provides it), then renamed into place: old `.ok` removed first, new `.dat`
renamed, new `.ok` renamed last. At no moment does a landed `.ok` describe another `.dat`.

A cut connection leaves the partial file and its flag; the next attempt continues from
the partial file's size if the remote flag is still the same (a re-send restarts).

Large files (`SPLIT_MIN` and up, downloaded from scratch) are split into ranges fetched
over several connections at once (`Ranged`), each range written in place with `pwrite`.
The partial file is then no longer a prefix, so a sidecar `.partial/{stem}.ranges`
records, per range, `start done end`: bytes `[start, done)` are on disk. The sidecar is
written before the first byte and rewritten only after the bytes it claims were written
(and `fdatasync`ed), so it never claims more than the file holds. A resume fetches
exactly the `[done, end)` holes, again in parallel if connections are available; without
a sidecar, the partial file is a prefix as before.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import paramiko

from common.errors import FileRejected
from extract.flag import Flag
from extract.sftp_errors import UnsafeRemoteName
from extract.sftp_paths import PARTIAL_DIR, check_regular, inside, ok_name
from extract.sftp_reader import RemoteFileEnded, newlines, read_range
from extract.sftp_session import SftpSession

log = logging.getLogger(__name__)

# Bytes per SFTP read request. OpenSSH's sftp-server answers reads of up to 255 KiB;
# fewer, larger requests mean far less Python work per byte than paramiko's 32 KiB default.
REQUEST_SIZE = 252 * 1024
# Read requests in flight per connection: 8 MiB. OpenSSH's client keeps 64 requests of up
# to 255 KiB. 64 made the reader alone faster but the whole fetcher no faster measurably
# (docs/performance.md); with paramiko's own channel buffer, which moved its whole unread
# content on every read, more than 32 cost CPU (sftp_reader.ChunkPipe no longer does that).
MAX_REQUESTS = 32
WRITE_BLOCK = 8 * 1024 * 1024
# Blocks received but not yet written (about 16 MiB): bounds memory if the disk is slow.
QUEUE_BLOCKS = 64

# Files at least this big are split over several connections when downloaded from scratch.
# One Python process receiving and writing one stream is CPU-bound (docs/performance.md);
# two or three streams keep both the disk writes and the other cores busy.
SPLIT_MIN = 64 * 1024 * 1024
# How often (bytes received, all ranges together) the range sidecar is brought up to date.
SIDECAR_EVERY = 32 * 1024 * 1024
RANGES_SUFFIX = ".ranges"

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


@dataclass
class Ranged:
    """Permission to split a large file: how to open more sessions and how many.

    `connections` counts the caller's own session. Extra sessions are opened only while
    `budget` (shared by all the fetcher's transfers) has a permit, so the server never sees
    more transfer connections than the fetcher's `max_parallel`."""

    connect: Callable[[], SftpSession]
    connections: int = 3
    budget: threading.Semaphore | None = None
    min_size: int = field(default_factory=lambda: SPLIT_MIN)


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


def _count_lines(path: Path, size: int) -> tuple[int, int]:
    """(newlines, last byte) of the first `size` bytes of `path`."""
    lines, last = 0, -1
    with path.open("rb") as handle:
        remaining = size
        while remaining:
            block = handle.read(min(WRITE_BLOCK, remaining))
            if not block:
                break
            lines += newlines(block)
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
    ranged: Ranged | None = None,
) -> FetchedFile:
    """Land one data file (see the module docstring). Raises FileRejected when the remote
    file disagrees with its flag, and paramiko/OS errors when the link fails (the partial
    file stays for the next attempt)."""
    final = inside(job.local_dir, job.name)
    final_ok = inside(job.local_dir, ok_name(job.name))
    if already_landed(job):
        return FetchedFile(job.name, final, "unchanged", job.flag.size)
    try:
        return _fetch(sftp, job, final, final_ok, progress, control_sum, ranged)
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
    ranged: Ranged | None = None,
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
    ranges_path = partial_dir / (job.name[: -len(".dat")] + RANGES_SUFFIX)
    total = job.flag.size
    segments = _load_segments(part, part_ok, ranges_path, job)
    offset = 0
    if segments is None:
        offset = _resume_offset(part, part_ok, job)
        if (
            not offset
            and ranged is not None
            and ranged.connections > 1
            and total >= max(ranged.min_size, 1)
        ):
            segments = _split(total, ranged.connections)
            part_ok.write_text(job.flag_text, encoding="ascii")
            _save_segments(ranges_path, segments)  # before any byte: never read as a prefix
            with part.open("wb") as out:
                out.truncate(total)

    transferred = 0
    if segments is not None:
        offset = sum(done - start for start, done, _ in segments)  # bytes already on disk
        lines = sum(_count_lines_range(part, start, done) for start, done, _ in segments)
        got_lines, transferred = _download_segments(
            sftp, job, part, segments, ranges_path, ranged, progress, offset, where
        )
        lines += got_lines
        last = _last_byte(part, total)
    elif offset:
        lines, last = _count_lines(part, offset)
    else:
        part_ok.write_text(job.flag_text, encoding="ascii")
        part.write_bytes(b"")
        lines, last = 0, -1

    if segments is None and offset < total:
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
        ranges_path.unlink(missing_ok=True)
        raise
    # The file is whole and on disk: from here on it is a plain prefix (of full length).
    ranges_path.unlink(missing_ok=True)

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


# -- ranged download ------------------------------------------------------------------------


def _split(total: int, parts: int) -> list[list[int]]:
    """`parts` ranges `[start, done=start, end]` tiling `[0, total)`, 1 MiB aligned."""
    step = -(-total // parts)
    step = -(-step // (1024 * 1024)) * 1024 * 1024
    return [[start, start, min(start + step, total)] for start in range(0, total, step)]


def _save_segments(path: Path, segments: list[list[int]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{s} {d} {e}\n" for s, d, e in segments), encoding="ascii")
    os.replace(tmp, path)


def _load_segments(
    part: Path, part_ok: Path, ranges_path: Path, job: Job
) -> list[list[int]] | None:
    """The sidecar's ranges if it belongs to this version of the file and is consistent;
    otherwise the sidecar and the (sparse, so unusable) partial file are discarded."""
    if not ranges_path.exists():
        return None
    try:
        same_flag = part_ok.read_text(encoding="ascii") == job.flag_text
        size = part.stat().st_size
        segments = [
            [int(x) for x in line.split()]
            for line in ranges_path.read_text(encoding="ascii").splitlines()
            if line.strip()
        ]
    except (OSError, ValueError, UnicodeDecodeError):
        same_flag, size, segments = False, -1, []
    consistent = (
        same_flag
        and size == job.flag.size
        and bool(segments)
        and all(len(s) == 3 and s[0] <= s[1] <= s[2] for s in segments)
        and segments[0][0] == 0
        and segments[-1][2] == job.flag.size
        and all(a[2] == b[0] for a, b in zip(segments, segments[1:], strict=False))
    )
    if consistent:
        return segments
    log.info("discarding partial %s: re-sent file or inconsistent range sidecar", part)
    for path in (part, part_ok, ranges_path):
        path.unlink(missing_ok=True)
    return None


def _count_lines_range(path: Path, start: int, end: int) -> int:
    lines = 0
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            block = handle.read(min(WRITE_BLOCK, remaining))
            if not block:
                break
            lines += newlines(block)
            remaining -= len(block)
    return lines


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def _last_byte(path: Path, size: int) -> int:
    if not size:
        return -1
    with path.open("rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)[0]


def _download_segments(
    sftp: paramiko.SFTPClient,
    job: Job,
    part: Path,
    segments: list[list[int]],
    ranges_path: Path,
    ranged: Ranged | None,
    progress: Progress | None,
    on_disk: int,
    where: str,
) -> tuple[int, int]:
    """Fetch every `[done, end)` hole of `segments` into `part`, over the caller's session
    plus up to `ranged.connections - 1` extra ones; (lines received, bytes received).

    Each connection takes the next unfinished range from a queue and writes it in place.
    Whatever happens, the sidecar is left describing exactly what is on disk."""
    total = job.flag.size
    todo: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
    pending = [seg for seg in segments if seg[1] < seg[2]]
    for seg in pending:
        todo.put(seg)
    lock = threading.Lock()
    save_lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    state = {"lines": 0, "received": 0, "on_disk": on_disk, "saved": on_disk}
    fd = os.open(part, os.O_WRONLY)

    def save() -> None:
        with lock:
            snapshot = [list(seg) for seg in segments]
        os.fdatasync(fd)  # the bytes first, then the sidecar that claims them
        _save_segments(ranges_path, snapshot)

    def pump(client: paramiko.SFTPClient) -> None:
        with client.open(job.remote_path, "rb") as remote:
            while not stop.is_set():
                try:
                    seg = todo.get_nowait()
                except queue.Empty:
                    return
                for data in read_range(client, remote, seg[1], seg[2], REQUEST_SIZE, MAX_REQUESTS):
                    _pwrite_all(fd, data, seg[1])
                    count = newlines(data)
                    with lock:
                        seg[1] += len(data)
                        state["lines"] += count
                        state["received"] += len(data)
                        state["on_disk"] += len(data)
                        position = state["on_disk"]
                        due = position - state["saved"] >= SIDECAR_EVERY
                        if due:
                            state["saved"] = position
                    if progress is not None:
                        progress(job.name, position, total)
                    if due and save_lock.acquire(blocking=False):
                        try:
                            save()
                        finally:
                            save_lock.release()
                    if stop.is_set():
                        return

    def guarded(run: Callable[[], None]) -> None:
        try:
            run()
        except BaseException as exc:  # handed to the caller's thread
            with lock:
                errors.append(exc)
            stop.set()

    def extra(ready: threading.Event) -> None:
        assert ranged is not None
        try:
            session = ranged.connect()
        finally:
            ready.set()
        try:
            go.wait()  # a connection that is quick to open must not take two ranges
            pump(session.sftp)
        finally:
            session.close()

    threads: list[threading.Thread] = []
    readies: list[threading.Event] = []
    go = threading.Event()  # set once every extra connection is open (or failed)
    permits = 0
    wanted = min(len(pending), ranged.connections if ranged is not None else 1) - 1
    try:
        for number in range(wanted):
            assert ranged is not None
            if ranged.budget is not None and not ranged.budget.acquire(blocking=False):
                break
            permits += 1
            ready = threading.Event()
            readies.append(ready)
            thread = threading.Thread(
                target=guarded,
                args=(lambda ready=ready: extra(ready),),
                name=f"{threading.current_thread().name}-range{number + 1}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        for ready in readies:  # every connection starts on its own range
            ready.wait()
        go.set()
        guarded(lambda: pump(sftp))
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        go.set()
        for thread in threads:
            thread.join()
        if ranged is not None and ranged.budget is not None:
            for _ in range(permits):
                ranged.budget.release()
        try:
            with save_lock:
                save()
            if not errors:
                os.fsync(fd)
        finally:
            os.close(fd)
    if errors:
        first = next((e for e in errors if isinstance(e, RemoteFileEnded)), errors[0])
        if isinstance(first, RemoteFileEnded):
            raise FileRejected(
                where, f"the server's file ended before byte {total}: not landed"
            ) from None
        raise first
    return state["lines"], state["received"]
