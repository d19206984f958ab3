"""Pipelined SFTP reads: many READ requests in flight, replies written strictly in order.

Why not `SFTPFile.prefetch`: with a concurrency limit, paramiko's prefetch thread can
fall behind its reader; the reader then sees "prefetch done", silently switches to one
synchronous request at a time and re-requests bytes already asked for, while the prefetch
thread's replies pile up unread in memory. Throughput then varies by 5x from run to run
and a resumed transfer asks for bytes twice. Here one thread keeps a window of
`max_requests` requests of `request_size` bytes, handles short reads by asking for the
rest, and never asks for a byte twice; every byte asked for is accounted.

It uses two long-stable internals of paramiko's SFTPClient (`_async_request`,
`_read_response`), the same ones SFTPFile's own prefetch uses; tests/extract/test_sftp.py
exercises them against a real sshd, so an incompatible paramiko fails the suite.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64


class RemoteFileEnded(Exception):
    """The remote file has fewer bytes than asked for (the server said end-of-file).

    Distinct from EOFError, which paramiko also raises when the link itself is gone."""


class _Replies:
    """Receives the replies paramiko routes to the object a request was made for."""

    def __init__(self) -> None:
        self.by_number: dict[int, tuple[int, paramiko.Message]] = {}

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        self.by_number[num] = (t, msg)


def read_range(
    sftp: paramiko.SFTPClient,
    remote: paramiko.SFTPFile,
    start: int,
    end: int,
    request_size: int,
    max_requests: int,
) -> Iterator[bytes]:
    """Yield the bytes `[start, end)` of the open remote file, in order.

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
            while num not in replies.by_number:
                client._read_response()
            kind, msg = replies.by_number.pop(num)
            if kind == CMD_STATUS:
                try:
                    client._convert_status(msg)  # raises EOFError (end of file) or IOError
                except EOFError:
                    raise RemoteFileEnded(offset) from None
                raise RemoteFileEnded(offset)
            if kind != CMD_DATA:
                raise paramiko.SFTPError(f"unexpected SFTP reply type {kind}")
            data = msg.get_string()
            if not data:
                raise RemoteFileEnded(offset)
            if len(data) < length:  # a short read: ask for the rest before anything later
                inflight.appendleft(request(offset + len(data), length - len(data)))
            yield data
    finally:
        # replies still on their way are dropped by paramiko (unknown request numbers)
        # once the file is closed; nothing to wait for here.
        inflight.clear()
