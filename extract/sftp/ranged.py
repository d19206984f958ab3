"""A split download: a large file fetched as ranges over several connections at once.

Why: one Python process receiving and writing one stream is CPU-bound
(docs/performance.md); two or three streams keep both the disk writes and the other
cores busy. Files of `SPLIT_MIN` and up, downloaded from scratch, are split into ranges
(`split`), each written in place with `pwrite` into a full-length partial file; the range
sidecar (extract/sftp/partial.py) says which bytes are on disk, so a resume fetches
exactly the holes, again in parallel if connections are available.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from common.errors import FileRejected
from extract.sftp.job import Job, Progress
from extract.sftp.partial import Partial, Segment
from extract.sftp.reader import RemoteFileEnded, newlines, read_range
from extract.sftp.session import SftpSession

# Files at least this big are split over several connections when downloaded from scratch.
SPLIT_MIN = 64 * 1024 * 1024
# How often (bytes received, all ranges together) the range sidecar is brought up to date.
SIDECAR_EVERY = 32 * 1024 * 1024


@dataclass
class Ranged:
    """Permission to split a large file: how to open more sessions and how many.

    `connections` counts the caller's own session. Extra sessions are opened only while
    `budget` (shared by all the fetcher's transfers) has a permit, so the server never sees
    more transfer connections than the fetcher's `max_parallel`."""

    connect: Callable[[], SftpSession]
    connections: int = 3
    budget: threading.Semaphore | None = None

    def splits(self, total: int) -> bool:
        """Whether a file of `total` bytes, downloaded from scratch, is split."""
        return self.connections > 1 and total >= max(SPLIT_MIN, 1)


def split(total: int, parts: int) -> list[Segment]:
    """`parts` ranges `[start, done=start, end]` tiling `[0, total)`, 1 MiB aligned."""
    step = -(-total // parts)
    step = -(-step // (1024 * 1024)) * 1024 * 1024
    return [[start, start, min(start + step, total)] for start in range(0, total, step)]


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written


def download_segments(
    sftp: paramiko.SFTPClient,
    job: Job,
    partial: Partial,
    segments: list[Segment],
    ranged: Ranged | None,
    progress: Progress | None,
) -> tuple[int, int]:
    """Fetch every `[done, end)` hole of `segments` into the partial file, over the
    caller's session plus up to `ranged.connections - 1` extra ones; (lines received,
    bytes received).

    Each connection takes the next unfinished range from a queue and writes it in place.
    Whatever happens, the sidecar is left describing exactly what is on disk."""
    total = job.flag.size
    on_disk = sum(done - start for start, done, _ in segments)
    todo: queue.SimpleQueue[Segment] = queue.SimpleQueue()
    pending = [seg for seg in segments if seg[1] < seg[2]]
    for seg in pending:
        todo.put(seg)
    lock = threading.Lock()
    save_lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    state = {"lines": 0, "received": 0, "on_disk": on_disk, "saved": on_disk}
    fd = os.open(partial.data, os.O_WRONLY)

    def save() -> None:
        with lock:
            snapshot = [list(seg) for seg in segments]
        os.fdatasync(fd)  # the bytes first, then the sidecar that claims them
        partial.save_segments(snapshot)

    def pump(client: paramiko.SFTPClient) -> None:
        with client.open(job.remote_path, "rb") as remote:
            while not stop.is_set():
                try:
                    seg = todo.get_nowait()
                except queue.Empty:
                    return
                for data in read_range(client, remote, seg[1], seg[2]):
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
                f"sftp:{job.remote_path}",
                f"the server's file ended before byte {total}: not landed",
            ) from None
        raise first
    return state["lines"], state["received"]
