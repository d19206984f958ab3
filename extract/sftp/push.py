"""Push export files to the CRM data server over SFTP: resume, verify, then rename.

The receiving side follows the same contract as the file-exchange server we read from:
"a `.dat` is complete when its `.ok` is there". For the files of one push, each
`{remote_dir}/{name}.dat` with its flag `{name}.ok`:

1. every data file is uploaded to a temporary name in the same folder, `.{name}.dat.part`
   (a leading dot: readers skip such names, as extract/sftp/listing.py does), continuing
   what an interrupted push left there when those bytes are the local file's first ones
   (extract/sftp/upload.py), from byte 0 otherwise;
2. each is verified: the remote size must be the local size, the local file must agree
   with its flag (name, bytes, records), and with `checksum=True` the remote file is read
   back and its SHA-256 compared with the local one (OpenSSH's sftp-server offers no
   server-side hash, so a re-read is the only way); a mismatch removes the temporary file
   and publishes nothing;
3. only when every data file is verified: the old `{name}.ok` flags are removed (a re-push:
   an old flag must never describe new data), then each temporary file is `posix-rename`d
   onto its `{name}.dat` (atomic, replaces an existing file);
4. the flags last: each written to `.{name}.ok.part` (created anew) and `posix-rename`d
   onto `{name}.ok`, so a landed `.ok` is complete and describes its `.dat`.

A push cut off at any point leaves at most temporary names and data files without flags:
nothing under a final `.dat` name is ever partial, and a reader that waits for the flags
never sees a mix of two versions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import paramiko

from common.errors import FileRejected
from extract.flag import Flag, check_against_flag, parse_flag
from extract.sftp.errors import PushVerifyError, UnsafeRemoteName
from extract.sftp.names import check_absolute, check_directory, check_file_name, ok_name
from extract.sftp.upload import PushProgress, Uploaded, line_count, remote_matches, upload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushedFile:
    """What a push did with one data file."""

    remote_path: str
    flag_path: str
    size: int
    records: int
    sha256: str
    replaced: bool  # a previous version was on the server under the final name
    checksum_verified: bool
    resumed_from: int = 0  # bytes an earlier, interrupted push had already sent


def check_remote_dir(sftp: paramiko.SFTPClient, remote_dir: str) -> str:
    """`remote_dir`, absolute, without `..`, an existing folder that is not a link."""
    path = str(check_absolute(remote_dir))
    check_directory(remote_dir, sftp.lstat(path))
    return path


def _verify(
    sftp: paramiko.SFTPClient, up: Uploaded, flag: Flag, where: str, checksum: bool
) -> None:
    """Raise PushVerifyError (after removing the temporary file) unless the upload is whole."""
    try:
        check_against_flag(where, flag, name=up.local.name, size=up.size, records=up.records)
        remote_size = sftp.stat(up.remote_tmp).st_size
        if remote_size != up.size:
            raise PushVerifyError(
                f"{where}: the uploaded file has {remote_size} bytes, the local one {up.size}: "
                "not published; push again"
            )
        if checksum and not remote_matches(sftp, up):
            raise PushVerifyError(
                f"{where}: the uploaded file's SHA-256 differs from the local one: "
                "not published; push again"
            )
    except FileRejected as exc:
        with contextlib.suppress(OSError):
            sftp.remove(up.remote_tmp)
        raise PushVerifyError(f"{exc} (the local file against its flag): not published") from None
    except PushVerifyError:
        with contextlib.suppress(OSError):
            sftp.remove(up.remote_tmp)
        raise


def push_files(
    sftp: paramiko.SFTPClient,
    files: Sequence[tuple[Path, Flag]],
    remote_dir: str,
    *,
    checksum: bool = False,
    progress: PushProgress | None = None,
) -> list[PushedFile]:
    """Upload each local `<name>.dat` with its flag into `remote_dir`: the data files
    first, resumed and verified, then renamed into place, and the flags last.

    Raises PushVerifyError when an upload differs (nothing renamed), UnsafeRemoteName for
    a bad name or folder, and paramiko/OS errors when the link fails (only temporary
    names touched, or data files renamed but not yet flagged)."""
    folder = check_remote_dir(sftp, remote_dir)
    for local, _flag in files:
        if not check_file_name(local.name).endswith(".dat"):
            raise UnsafeRemoteName(local.name, "only '<name>.dat' export files are pushed")
    uploads: list[tuple[Uploaded, Flag, bool]] = []
    for local, flag in files:
        tmp_ok = f"{folder}/.{ok_name(local.name)}.part"
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(tmp_ok)  # from an interrupted push; a planted link goes too
        up = upload(sftp, local, f"{folder}/.{local.name}.part", progress)
        _verify(sftp, up, flag, f"sftp:{folder}/{local.name}", checksum)
        uploads.append((up, flag, _exists(sftp, f"{folder}/{local.name}")))

    for up, _flag, _replaced in uploads:  # the old flags first: never one for other data
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(f"{folder}/{ok_name(up.local.name)}")
    for up, _flag, _replaced in uploads:
        sftp.posix_rename(up.remote_tmp, f"{folder}/{up.local.name}")
    pushed = []
    for up, flag, replaced in uploads:
        final, final_ok = f"{folder}/{up.local.name}", f"{folder}/{ok_name(up.local.name)}"
        tmp_ok = f"{folder}/.{ok_name(up.local.name)}.part"
        with sftp.open(tmp_ok, "wx") as handle:  # created anew: never through a link
            handle.write((flag.text() + "\n").encode("ascii"))
        sftp.posix_rename(tmp_ok, final_ok)
        log.info("pushed %s (%d bytes, %d records%s%s)", final, up.size, up.records,
                 ", replaced" if replaced else "",
                 f", resumed from byte {up.resumed_from}" if up.resumed_from else "")  # fmt: skip
        pushed.append(
            PushedFile(
                final, final_ok, up.size, up.records, up.sha256, replaced, checksum, up.resumed_from
            )  # fmt: skip
        )
    return pushed


def push_file(
    sftp: paramiko.SFTPClient,
    local: Path,
    remote_dir: str,
    *,
    control_sum: Decimal | str = "0.00",
    checksum: bool = False,
    progress: PushProgress | None = None,
) -> PushedFile:
    """Upload one `local` `<name>.dat` and publish it with a flag made here:
    `name|bytes|records|control_sum` (records = lines, as the fetcher counts them;
    `control_sum` is the caller's, 2 decimals). See `push_files`."""
    name = check_file_name(local.name)
    flag_text = f"{name}|{local.stat().st_size}|{line_count(local)}|{Decimal(control_sum):.2f}"
    flag = parse_flag(flag_text, f"flag of {local}")  # one the fetcher accepts
    return push_files(sftp, [(local, flag)], remote_dir, checksum=checksum, progress=progress)[0]


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.lstat(path)
    except FileNotFoundError:
        return False
    return True
