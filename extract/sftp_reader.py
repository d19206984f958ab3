"""Pipelined SFTP reads: many READ requests in flight, replies written strictly in order.

Why not `SFTPFile.prefetch`: with a concurrency limit, paramiko's prefetch thread can
fall behind its reader; the reader then sees "prefetch done", silently switches to one
synchronous request at a time and re-requests bytes already asked for, while the prefetch
thread's replies pile up unread in memory. Throughput then varies by 5x from run to run
and a resumed transfer asks for bytes twice. Here one thread keeps a window of
`max_requests` requests of `request_size` bytes, handles short reads by asking for the
rest, and never asks for a byte twice; every byte asked for is accounted.

Requests go out through paramiko's SFTPClient (`_async_request`, a long-stable internal,
the one SFTPFile's own prefetch uses; the tests count READs there). Replies are read
here, straight from the channel, instead of through `_read_response`: paramiko copies
each reply several times on its way (growing `bytes +=` while it collects the packet,
`data[1:]`, then `Message.get_string`), which is Python CPU per byte that the receiving
process does not have on a busy machine (docs/performance.md). Here a reply is collected
as the channel's chunks and joined once; the data is handed on as a `memoryview` into
that one buffer. Replies to requests that are not this reader's are dispatched exactly
as paramiko does. `ChunkPipe` (installed on the channel by extract/sftp_session.py)
removes paramiko's other per-byte copies on the channel's receive buffer.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

_LENGTH = struct.Struct(">I")
# Replies up to this size are waited for whole before they are read (ChunkPipe.wait_for);
# well below any window this fetcher opens (extract/sftp_session.py: 16 MiB).
WAIT_LIMIT = 1024 * 1024
WAIT_WHOLE_REPLY = True  # False: wake the reader on every packet, as before (to measure)
_DATA_HEADER = struct.Struct(">BII")  # type, request number, data length


class RemoteFileEnded(Exception):
    """The remote file has fewer bytes than asked for (the server said end-of-file).

    Distinct from EOFError, which paramiko also raises when the link itself is gone."""


def newlines(data: bytes | memoryview) -> int:
    """Number of b"\\n" in `data`. numpy's comparison is several times faster than
    `bytes.count` for one byte (measured 0.09 s against 0.41 s per GiB in 252 KiB blocks)
    and releases the GIL, which the receiving threads need."""
    if not len(data):
        return 0
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))


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


def _recv_exact(channel: paramiko.Channel, size: int) -> bytes:
    """Exactly `size` bytes from the channel; EOFError if the channel ends first."""
    pipe = getattr(channel, "in_buffer", None)
    if WAIT_WHOLE_REPLY and isinstance(pipe, ChunkPipe) and size <= WAIT_LIMIT:
        try:
            pipe.wait_for(size, channel.gettimeout())
        except PipeTimeout:
            raise TimeoutError() from None  # socket.timeout, as channel.recv raises it
    first = channel.recv(size)
    if len(first) == size:
        return first
    parts = [first]
    remaining = size - len(first)
    while True:
        if not first:
            raise EOFError("SFTP channel closed")
        if remaining == 0:
            return b"".join(parts)
        first = channel.recv(remaining)
        parts.append(first)
        remaining -= len(first)


def _read_reply(client: Any) -> tuple[int, int, bytes]:
    """(type, request number, whole reply body) of the next SFTP packet on the channel."""
    channel = client.sock
    try:
        head = _recv_exact(channel, 4)
        (size,) = _LENGTH.unpack(head)
        if head[0] or size < 5:
            raise paramiko.SFTPError("Garbage packet received")
        body = _recv_exact(channel, size)
    except EOFError as exc:  # as paramiko's own reader says it
        raise paramiko.SSHException(f"Server connection dropped: {exc}") from None
    return body[0], _LENGTH.unpack_from(body, 1)[0], body


class _Replies:
    """Receives the replies of this reader's requests when someone else reads them."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[int, bytes]] = {}

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        # paramiko has read the type and the number: the body is rebuilt around the rest
        self.by_number[num] = (t, struct.pack(">BI", t, num) + msg.get_remainder())


def _next_reply(client: Any, replies: _Replies, wanted: int) -> tuple[int, bytes]:
    """Read replies until the one to request `wanted` is in; (type, reply body)."""
    while wanted not in replies.by_number:
        kind, num, body = _read_reply(client)
        with client._lock:
            fileobj = client._expecting.pop(num, None)
        if fileobj is replies:
            replies.by_number[num] = (kind, body)
        elif fileobj is not None and fileobj is not type(None):
            message = paramiko.Message(body[5:])
            fileobj._async_response(kind, message, num)  # as paramiko's _read_response
        # an unknown number: a reply to a request of a file closed meanwhile; dropped
    return replies.by_number.pop(wanted)


def read_range(
    sftp: paramiko.SFTPClient,
    remote: paramiko.SFTPFile,
    start: int,
    end: int,
    request_size: int,
    max_requests: int,
) -> Iterator[memoryview]:
    """Yield the bytes `[start, end)` of the open remote file, in order, as memoryviews
    (valid after the next item too: each is the only reference into its reply).

    Raises RemoteFileEnded if the file ends before `end`, IOError for a server error
    status, and paramiko/socket errors or EOFError if the link drops (whatever was
    yielded is valid).
    """
    client: Any = sftp  # the internals are not in the type stubs
    handle = remote.handle
    replies = _Replies()
    inflight: deque[tuple[int, int, int]] = deque()  # (request number, offset, length)
    next_offset = start

    def request(offset: int, length: int) -> tuple[int, int, int]:
        num = client._async_request(replies, CMD_READ, handle, int64(offset), int(length))
        return num, offset, length

    try:
        while inflight or next_offset < end:
            while len(inflight) < max_requests and next_offset < end:
                length = min(request_size, end - next_offset)
                inflight.append(request(next_offset, length))
                next_offset += length
            num, offset, length = inflight.popleft()
            kind, body = _next_reply(client, replies, num)
            if kind == CMD_STATUS:
                try:
                    client._convert_status(paramiko.Message(body[5:]))
                except EOFError:  # end of file
                    raise RemoteFileEnded(offset) from None
                raise RemoteFileEnded(offset)
            if kind != CMD_DATA:
                raise paramiko.SFTPError(f"unexpected SFTP reply type {kind}")
            if len(body) < 9:
                raise paramiko.SFTPError("short SFTP DATA reply")
            (count,) = _LENGTH.unpack_from(body, 5)
            if count > length or 9 + count > len(body):
                raise paramiko.SFTPError(f"SFTP DATA reply of {count} bytes for {length} asked")
            if not count:
                raise RemoteFileEnded(offset)
            if count < length:  # a short read: ask for the rest before anything later
                inflight.appendleft(request(offset + count, length - count))
            yield memoryview(body)[9 : 9 + count]
    finally:
        # replies still on their way are dropped (unknown request numbers) once the
        # file is closed; nothing to wait for here.
        with client._lock:
            for num, _, _ in inflight:
                client._expecting.pop(num, None)
        inflight.clear()
