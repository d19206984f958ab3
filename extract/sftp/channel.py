"""paramiko's channel receive buffer without its per-byte copies (`ChunkPipe`).

Why: on a busy machine the fetcher competes for CPU, so the Python work per received
byte decides its speed (docs/performance.md). paramiko's `BufferedPipe` copies every
byte in and out of an `array`; `ChunkPipe` keeps the SSH packets' payloads as they are.
`install_chunk_pipe` puts it under a fresh session's channel (extract/sftp/session.py);
`ChunkPipe.wait_for` lets extract/sftp/reader.py wait for a whole SFTP reply at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout


class ChunkPipe(BufferedPipe):
    """paramiko's channel receive buffer without its per-byte copies.

    `BufferedPipe` appends every SSH packet's data to an `array` (a copy), and each read
    slices it, converts the slice to bytes and deletes it from the array's front (three
    more, the last moving everything still unread). Here the packets' bytes objects are
    queued as they are and a read hands out a whole one when it fits (no copy), or a slice
    of the front one. Same interface and semantics (blocking read with timeout, closing,
    the readiness event), so the rest of paramiko's Channel is unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self._mutex = threading.Lock()
        self._arrived = threading.Condition(self._mutex)
        self._ready_event: threading.Event | None = None
        self._ended = False
        self._chunks: deque[bytes] = deque()
        self._offset = 0  # bytes of the front chunk already handed out
        self._size = 0
        self._wanted = 0  # a reader waits for this many bytes (wait_for): wake it then

    def set_event(self, event: threading.Event) -> None:
        with self._mutex:
            self._ready_event = event
            if self._ended or self._size > 0:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._mutex:
            if self._ready_event is not None:
                self._ready_event.set()
            if data:
                self._chunks.append(bytes(data))
                self._size += len(data)
            if self._size >= self._wanted:
                self._arrived.notify_all()

    def wait_for(self, nbytes: int, timeout: float | None) -> None:
        """Block until `nbytes` are buffered or the pipe is closed (PipeTimeout after
        `timeout`). An SFTP reply arrives as several SSH packets; waking the reader for
        each one costs a thread switch and the GIL handover per packet (measured: more
        than the copies it saves). `nbytes` must fit in the channel's window."""
        with self._mutex:
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while self._size < nbytes and not self._ended:
                    self._wanted = nbytes
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise PipeTimeout()
                    self._arrived.wait(remaining)
            finally:
                self._wanted = 0

    def read_ready(self) -> bool:
        with self._mutex:
            return self._size > 0

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._mutex:
            if self._size == 0:
                if self._ended:
                    return b""
                if timeout == 0.0:
                    raise PipeTimeout()
                while self._size == 0 and not self._ended:
                    then = time.time()
                    self._arrived.wait(timeout)
                    if timeout is not None:
                        timeout -= time.time() - then
                        if timeout <= 0.0:
                            raise PipeTimeout()
                if self._size == 0:
                    return b""
            chunk = self._chunks[0]
            start = self._offset
            available = len(chunk) - start
            if available <= nbytes:
                self._chunks.popleft()
                self._offset = 0
                out = chunk if start == 0 else chunk[start:]
            else:
                out = chunk[start : start + nbytes]
                self._offset = start + nbytes
            self._size -= len(out)
            if self._size == 0 and self._ready_event is not None and not self._ended:
                self._ready_event.clear()
            return out

    def empty(self) -> bytes:
        with self._mutex:
            out = b"".join(self._chunks)[self._offset :]
            self._chunks.clear()
            self._offset = 0
            self._size = 0
            if self._ready_event is not None and not self._ended:
                self._ready_event.clear()
            return out

    def close(self) -> None:
        with self._mutex:
            self._ended = True
            self._arrived.notify_all()
            if self._ready_event is not None:
                self._ready_event.set()

    def __len__(self) -> int:
        with self._mutex:
            return self._size


def install_chunk_pipe(channel: paramiko.Channel) -> bool:
    """Give `channel` a ChunkPipe as receive buffer, carrying over anything unread.

    Call it while nothing is expected on the channel (right after the SFTP version
    exchange): the transport thread looks the buffer up on each packet. False (nothing
    changed) when paramiko's Channel has no such buffer any more."""
    old: Any = getattr(channel, "in_buffer", None)
    if not isinstance(old, BufferedPipe):
        return False
    pipe = ChunkPipe()
    leftover = old.empty()
    if leftover:
        pipe.feed(leftover)
    channel.in_buffer = pipe
    return True
