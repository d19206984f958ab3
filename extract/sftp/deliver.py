"""Deliver a set of files to a folder of a remote server: connect, push, and on a dropped
link reconnect and push again, which continues where the link dropped (push.py resumes).

The folder is `{remote_root}/{D}/{P}` on the CRM data server: the root must exist (it is
the server's, configured), the date and province folders below it are created when
missing, each checked to be a real folder and not a link.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import paramiko

from extract.flag import Flag
from extract.sftp.credentials import SftpCredentials
from extract.sftp.errors import PushFailedError, SftpConnectError, SftpError
from extract.sftp.names import check_absolute, check_branch, check_business_date, check_directory
from extract.sftp.push import PushedFile, check_remote_dir, push_files
from extract.sftp.session import LINK_ERRORS, open_session, pause_before_retry
from extract.sftp.upload import PushProgress

log = logging.getLogger(__name__)

#: What a new attempt may cure: the link dropped, or it could not be set up.
_RETRIED: tuple[type[BaseException], ...] = (SftpConnectError, *LINK_ERRORS)


def make_folders(sftp: paramiko.SFTPClient, root: str, business_date: str, province: str) -> str:
    """`root/{D}/{P}`, creating the date and province folders below the existing `root`."""
    path = check_remote_dir(sftp, root)
    for part in (check_business_date(business_date), check_branch(province)):
        path = f"{path}/{part}"
        with contextlib.suppress(OSError):  # there already (or made meanwhile): checked below
            sftp.mkdir(path)
        check_directory(path, sftp.lstat(path))
    return path


def deliver(
    credentials: SftpCredentials,
    known_hosts: Path,
    files: Sequence[tuple[Path, Flag]],
    remote_root: str,
    business_date: str,
    province: str,
    *,
    checksum: bool = True,
    attempts: int = 3,
    progress: PushProgress | None = None,
) -> list[PushedFile]:
    """Push `files` (data file, its flag) into `remote_root/{D}/{P}` over a new session,
    retrying up to `attempts` times when the link drops or cannot be set up.

    Raises PushFailedError when the last attempt failed so; PushVerifyError,
    UnsafeRemoteName, host key and login errors, and a refused file (no permission) at
    once: retrying does not change them."""
    where = f"{credentials.where}:{check_absolute(remote_root)}/{business_date}/{province}"
    failure = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            log.warning("push to %s: attempt %d of %d after %s", where, attempt, attempts,
                        failure)  # fmt: skip
            pause_before_retry(attempt - 1)
        try:
            with open_session(credentials, known_hosts) as session:
                folder = make_folders(session.sftp, remote_root, business_date, province)
                return push_files(session.sftp, files, folder, checksum=checksum,
                                  progress=progress)  # fmt: skip
        except (FileNotFoundError, PermissionError) as exc:  # the server refuses: no retry
            raise SftpError(
                f"push to {where} refused by the server: {type(exc).__name__}: {exc} "
                "(does export.sftp.remote_root exist there, writable by this user?)"
            ) from None
        except _RETRIED as exc:
            failure = f"{type(exc).__name__}: {exc}"
    raise PushFailedError(where, attempts, failure)
