"""Upload one local file to a temporary remote name, continuing an earlier attempt's bytes.

An export file can be hundreds of megabytes and the link to the CRM data server can drop.
A push that was cut off leaves its temporary file (`.{name}.part`, never the final name);
the next attempt keeps it when it is a regular file no longer than the local one and its
bytes are the local file's first bytes, compared by SHA-256 after reading them back (the
server offers no hash of its own). Anything else (a longer file, other bytes, a link or a
folder planted under that name) is removed and the upload starts from byte 0 with the
temporary file created anew (O_EXCL), so nothing is ever written through a link.

The writes are pipelined: up to MAX_WRITES WRITE requests in flight, as the reads are.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import CMD_STATUS, CMD_WRITE, int64

from extract.sftp.reader import RemoteFileEnded, Replies, next_reply, read_range

log = logging.getLogger(__name__)

# OpenSSH's sftp-server accepts WRITE requests of up to 256 KiB (its message limit);
# paramiko's own writes are 32 KiB each. 32 in flight = 8 MiB, as for reads.
WRITE_SIZE = 252 * 1024
MAX_WRITES = 32
READ_BLOCK = 8 * 1024 * 1024

PushProgress = Callable[[str, int, int], None]  # (file name, bytes on the server, total bytes)


@dataclass(frozen=True)
class Uploaded:
    """A local file now whole under its temporary remote name (not yet verified)."""

    local: Path
    remote_tmp: str
    size: int
    records: int  # lines, an unterminated last line included (as the fetcher counts)
    sha256: str
    resumed_from: int  # bytes kept from an earlier attempt (0: sent from the start)


def _local_sha256(local: Path, length: int) -> str:
    digest = hashlib.sha256()
    left = length
    with local.open("rb") as source:
        while left and (block := source.read(min(READ_BLOCK, left))):
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def _remote_sha256(sftp: paramiko.SFTPClient, remote_path: str, size: int) -> str:
    """SHA-256 of the remote file's first `size` bytes (RemoteFileEnded if it is shorter)."""
    digest = hashlib.sha256()
    with sftp.open(remote_path, "rb") as remote:
        for data in read_range(sftp, remote, 0, size):
            digest.update(data)
    return digest.hexdigest()


def kept_prefix(sftp: paramiko.SFTPClient, local: Path, remote_tmp: str) -> int:
    """How many bytes of an earlier attempt's `remote_tmp` this upload keeps: all of them
    when they are the local file's first bytes, else 0 (and the leftover is removed)."""
    try:
        attrs = sftp.lstat(remote_tmp)
    except FileNotFoundError:
        return 0
    have, size = attrs.st_size or 0, local.stat().st_size
    if stat.S_ISREG(attrs.st_mode or 0) and 0 < have <= size:
        try:
            if _remote_sha256(sftp, remote_tmp, have) == _local_sha256(local, have):
                log.info("resuming %s from byte %d of %d", remote_tmp, have, size)
                return have
        except RemoteFileEnded:
            pass  # it shrank while we read it: not a prefix we can trust
        why = f"its {have} bytes are not the local file's first bytes"
    elif not stat.S_ISREG(attrs.st_mode or 0):
        why = "it is not a regular file"
    else:
        why = f"it has {have} bytes, the local file {size}"
    log.warning("restarting %s from byte 0: %s", remote_tmp, why)
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(remote_tmp)
    return 0


def upload(
    sftp: paramiko.SFTPClient,
    local: Path,
    remote_tmp: str,
    progress: PushProgress | None = None,
) -> Uploaded:
    """Write `local` to `remote_tmp`, keeping what an earlier attempt left (`kept_prefix`).

    Raises paramiko/OS errors when the link drops: the bytes written so far stay under
    `remote_tmp` for the next attempt."""
    start = kept_prefix(sftp, local, remote_tmp)
    client: Any = sftp  # the internals are not in the type stubs
    digest = hashlib.sha256()
    lines, last, offset = 0, -1, 0
    total = local.stat().st_size
    replies = Replies()
    inflight: deque[int] = deque()

    def wait_oldest() -> None:
        kind, body = next_reply(client, replies, inflight.popleft())
        if kind != CMD_STATUS:
            raise paramiko.SFTPError(f"unexpected SFTP reply type {kind} to a write")
        client._convert_status(paramiko.Message(body[5:]))  # IOError on a failed write

    # anew: "x" (O_EXCL), never through a link planted under that name; resumed: the
    # regular file kept_prefix just read, opened for writing without truncation
    with sftp.open(remote_tmp, "r+b" if start else "wbx") as remote, local.open("rb") as source:
        handle = remote.handle
        while block := source.read(READ_BLOCK):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1]
            view = memoryview(block)
            skip = max(0, min(len(block), start - offset))  # already on the server
            for begin in range(skip, len(block), WRITE_SIZE):
                piece = bytes(view[begin : begin + WRITE_SIZE])
                if len(inflight) >= MAX_WRITES:
                    wait_oldest()
                at = offset + begin
                inflight.append(client._async_request(replies, CMD_WRITE, handle, int64(at), piece))
            offset += len(block)
            if progress is not None and offset > start:
                progress(local.name, offset, total)
        while inflight:
            wait_oldest()
    records = lines + (1 if offset and last != ord("\n") else 0)
    return Uploaded(local, remote_tmp, offset, records, digest.hexdigest(), start)


def remote_matches(sftp: paramiko.SFTPClient, uploaded: Uploaded) -> bool:
    """Whether the whole remote temporary file reads back as the local file's SHA-256."""
    try:
        return _remote_sha256(sftp, uploaded.remote_tmp, uploaded.size) == uploaded.sha256
    except RemoteFileEnded:
        return False


def line_count(local: Path) -> int:
    """Records of a local file, counted as `upload` counts them (for a flag made here)."""
    lines, last = 0, -1
    with local.open("rb") as source:
        while block := source.read(READ_BLOCK):
            lines += block.count(b"\n")
            last = block[-1]
    return lines + (1 if last not in (-1, ord("\n")) else 0)
