"""Push one export file to the CRM data server over SFTP, verify-then-rename.

The receiving side follows the same contract as the file-exchange server we read from:
"a `.dat` is complete when its `.ok` is there". So, for `{remote_dir}/{name}.dat`:

1. upload to a temporary name in the same folder, `.{name}.dat.part` (a leading dot:
   readers skip such names, as extract/sftp/listing.py does);
2. verify: the remote temporary file's size must be the local size; with
   `checksum=True` it is also read back and its SHA-256 compared with the local one
   (OpenSSH's sftp-server offers no server-side hash, so a re-read is the only way);
3. remove the old `{name}.ok` if there is one (a re-upload: the old flag must never
   describe the new data), then `posix-rename` the temporary file onto `{name}.dat`
   (atomic, replaces an existing file);
4. write the new flag `{name}|bytes|records|control sum` to `.{name}.ok.part` and
   `posix-rename` it onto `{name}.ok`: the flag appears last, complete.

An upload cut off at any point leaves at most the temporary names: nothing under the
final `.dat` name is ever partial, and a landed `.ok` always describes its `.dat`. A new
push overwrites a left-over temporary file (no resume: exports are small next to the
dumps, and a half-uploaded file on the receiver is not trusted).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import paramiko
from paramiko.sftp import CMD_STATUS, CMD_WRITE, int64

from extract.flag import parse_flag
from extract.sftp.errors import PushVerifyError, UnsafeRemoteName
from extract.sftp.names import check_absolute, check_directory, check_file_name, ok_name
from extract.sftp.reader import RemoteFileEnded, Replies, next_reply, read_range

log = logging.getLogger(__name__)

# OpenSSH's sftp-server accepts WRITE requests of up to 256 KiB (its message limit);
# paramiko's own writes are 32 KiB each. 32 in flight = 8 MiB, as for reads.
WRITE_SIZE = 252 * 1024
MAX_WRITES = 32
READ_BLOCK = 8 * 1024 * 1024

PushProgress = Callable[[str, int, int], None]  # (file name, bytes sent, total bytes)


@dataclass(frozen=True)
class PushedFile:
    """What `push_file` did."""

    remote_path: str
    flag_path: str
    size: int
    records: int
    sha256: str
    replaced: bool  # a previous version was on the server under the final name
    checksum_verified: bool


def _check_remote_dir(sftp: paramiko.SFTPClient, remote_dir: str) -> str:
    path = str(check_absolute(remote_dir))
    check_directory(remote_dir, sftp.lstat(path))
    return path


def _upload(
    sftp: paramiko.SFTPClient,
    local: Path,
    remote_tmp: str,
    progress: PushProgress | None,
) -> tuple[int, int, str]:
    """Write `local` to `remote_tmp` with pipelined WRITE requests; (bytes, lines, sha256).

    The last byte decides whether an unterminated last line counts as a record."""
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

    # "x": created anew (O_EXCL), so never written through a link planted under that name
    with sftp.open(remote_tmp, "wbx") as remote, local.open("rb") as source:
        handle = remote.handle
        while block := source.read(READ_BLOCK):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1]
            view = memoryview(block)
            for start in range(0, len(block), WRITE_SIZE):
                piece = bytes(view[start : start + WRITE_SIZE])
                if len(inflight) >= MAX_WRITES:
                    wait_oldest()
                inflight.append(
                    client._async_request(replies, CMD_WRITE, handle, int64(offset), piece)
                )
                offset += len(piece)
            if progress is not None:
                progress(local.name, offset, total)
        while inflight:
            wait_oldest()
    records = lines + (1 if offset and last != ord("\n") else 0)
    return offset, records, digest.hexdigest()


def _remote_sha256(sftp: paramiko.SFTPClient, remote_path: str, size: int) -> str:
    digest = hashlib.sha256()
    with sftp.open(remote_path, "rb") as remote:
        for data in read_range(sftp, remote, 0, size):
            digest.update(data)
    return digest.hexdigest()


def push_file(
    sftp: paramiko.SFTPClient,
    local: Path,
    remote_dir: str,
    *,
    control_sum: Decimal | str = "0.00",
    checksum: bool = False,
    progress: PushProgress | None = None,
) -> PushedFile:
    """Upload `local` (a `<name>.dat`) into `remote_dir` and publish it with its `.ok`.

    The flag says `name|bytes|records|control_sum` (records = lines, as the fetcher
    counts them; `control_sum` is the caller's, 2 decimals). Raises PushVerifyError when
    the uploaded bytes differ (nothing renamed), UnsafeRemoteName for a bad name or
    folder, and paramiko/OS errors when the link fails (only temporary names touched).
    """
    name = check_file_name(local.name)
    if not name.endswith(".dat"):
        raise UnsafeRemoteName(name, "only '<name>.dat' export files are pushed")
    folder = _check_remote_dir(sftp, remote_dir)
    final = f"{folder}/{name}"
    final_ok = f"{folder}/{ok_name(name)}"
    tmp = f"{folder}/.{name}.part"
    tmp_ok = f"{folder}/.{ok_name(name)}.part"
    where = f"sftp:{final}"

    for leftover in (tmp, tmp_ok):  # from an interrupted push; a planted link goes too
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(leftover)
    size, records, local_hash = _upload(sftp, local, tmp, progress)
    try:
        remote_size = sftp.stat(tmp).st_size
        if remote_size != size:
            raise PushVerifyError(
                f"{where}: the uploaded file has {remote_size} bytes, the local one {size}: "
                "not published; push again"
            )
        if checksum and _remote_sha256(sftp, tmp, size) != local_hash:
            raise PushVerifyError(
                f"{where}: the uploaded file's SHA-256 differs from the local one: "
                "not published; push again"
            )
    except (PushVerifyError, RemoteFileEnded) as exc:
        with contextlib.suppress(OSError):
            sftp.remove(tmp)
        if isinstance(exc, RemoteFileEnded):
            raise PushVerifyError(f"{where}: the uploaded file is shorter than sent") from None
        raise

    flag_text = f"{name}|{size}|{records}|{Decimal(control_sum):.2f}\n"
    parse_flag(flag_text, where)  # the flag we publish is one the fetcher accepts

    replaced = _exists(sftp, final)
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(final_ok)  # the old flag goes first: never a flag for another file
    sftp.posix_rename(tmp, final)
    with sftp.open(tmp_ok, "wx") as handle:  # created anew: never through a link
        handle.write(flag_text.encode("ascii"))
    sftp.posix_rename(tmp_ok, final_ok)
    log.info("pushed %s (%d bytes, %d records%s)", final, size, records,
             ", replaced" if replaced else "")  # fmt: skip
    return PushedFile(final, final_ok, size, records, local_hash, replaced, checksum)


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.lstat(path)
    except FileNotFoundError:
        return False
    return True
