"""Pipelined SFTP requests: many in flight, replies taken strictly in order.

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
as paramiko does. `ChunkPipe` (extract/sftp/channel.py, installed on the channel by
extract/sftp/session.py) removes paramiko's other per-byte copies. The pushing side
(extract/sftp/upload.py) collects its WRITE replies with the same `Replies`/`next_reply`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import paramiko
from paramiko.buffered_pipe import PipeTimeout
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from extract.sftp.channel import ChunkPipe

# Bytes per SFTP read request. OpenSSH's sftp-server answers reads of up to 255 KiB;
# fewer, larger requests mean far less Python work per byte than paramiko's 32 KiB default.
REQUEST_SIZE = 252 * 1024
# Read requests in flight per connection: 8 MiB. OpenSSH's client keeps 64 requests of up
# to 255 KiB. 64 made the reader alone faster but the whole fetcher no faster measurably
# (docs/performance.md); with paramiko's own channel buffer, which moved its whole unread
# content on every read, more than 32 cost CPU (channel.ChunkPipe no longer does that).
MAX_REQUESTS = 32

_LENGTH = struct.Struct(">I")
# Replies up to this size are waited for whole before they are read (ChunkPipe.wait_for);
# well below any window this fetcher opens (extract/sftp/session.py: 16 MiB).
WAIT_LIMIT = 1024 * 1024


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


def _recv_exact(channel: paramiko.Channel, size: int) -> bytes:
    """Exactly `size` bytes from the channel; EOFError if the channel ends first."""
    pipe = getattr(channel, "in_buffer", None)
    if isinstance(pipe, ChunkPipe) and size <= WAIT_LIMIT:
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


class Replies:
    """Collects the replies to one reader's (or pusher's) requests, by request number,
    whether `next_reply` or paramiko's own `_read_response` reads them off the channel."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[int, bytes]] = {}

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        # paramiko has read the type and the number: the body is rebuilt around the rest
        self.by_number[num] = (t, struct.pack(">BI", t, num) + msg.get_remainder())


def next_reply(client: Any, replies: Replies, wanted: int) -> tuple[int, bytes]:
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
) -> Iterator[memoryview]:
    """Yield the bytes `[start, end)` of the open remote file, in order, as memoryviews
    (valid after the next item too: each is the only reference into its reply), with
    MAX_REQUESTS requests of REQUEST_SIZE bytes in flight (read when the range starts).

    Raises RemoteFileEnded if the file ends before `end`, IOError for a server error
    status, and paramiko/socket errors or EOFError if the link drops (whatever was
    yielded is valid).
    """
    client: Any = sftp  # the internals are not in the type stubs
    handle = remote.handle
    replies = Replies()
    inflight: deque[tuple[int, int, int]] = deque()  # (request number, offset, length)
    next_offset = start
    request_size, max_requests = REQUEST_SIZE, MAX_REQUESTS

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
            kind, body = next_reply(client, replies, num)
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
