"""Remote and local names of the landing zone, and the checks that keep them inside it.

A remote listing is data from another system: a name with `..`, a slash, an absolute
path or a symbolic link must never decide where we write or what we read.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path, PurePosixPath

from paramiko import SFTPAttributes

from extract.sftp.errors import UnsafeRemoteName

_DATE = re.compile(r"^\d{8}$")
_BRANCH = re.compile(r"^[A-Z0-9]{1,16}$")
# Data and flag files: letters, digits, `_`, `-`, one dot before the suffix.
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.(dat|ok)$")
PARTIAL_DIR = ".partial"


def _matching(value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.match(value):
        raise UnsafeRemoteName(value, rule)
    return value


def check_business_date(value: str) -> str:
    """A business date as it appears in folder names: YYYYMMDD."""
    return _matching(value, _DATE, "a business date is 8 digits (YYYYMMDD)")


def check_branch(value: str) -> str:
    """A branch code as it appears in folder names (ZJ, NB, ...)."""
    return _matching(value, _BRANCH, "a branch code is upper-case letters and digits")


def check_file_name(name: str) -> str:
    """A plain file name of the landing zone: no directory part, no `..`, not absolute."""
    if name in ("", ".", "..") or ".." in name:
        raise UnsafeRemoteName(name, "contains '..'")
    if "/" in name or "\\" in name or "\0" in name:
        raise UnsafeRemoteName(name, "contains a path separator or NUL")
    if not _FILE.match(name):
        raise UnsafeRemoteName(name, "is not a plain '<name>.dat' or '<name>.ok' file name")
    return name


def check_regular(name: str, attrs: SFTPAttributes) -> None:
    """Refuse links and anything that is not a regular file (attributes from lstat)."""
    mode = attrs.st_mode or 0
    if stat.S_ISLNK(mode):
        raise UnsafeRemoteName(name, "is a symbolic link on the server")
    if not stat.S_ISREG(mode):
        raise UnsafeRemoteName(name, "is not a regular file on the server")


def check_directory(name: str, attrs: SFTPAttributes) -> None:
    """Refuse a remote folder that is a link or not a directory (attributes from lstat)."""
    if not stat.S_ISDIR(attrs.st_mode or 0):
        raise UnsafeRemoteName(name, "the remote folder is a link or not a directory")


def check_absolute(remote_path: str) -> PurePosixPath:
    """A remote folder named in the settings or by a caller: absolute, without `..`."""
    path = PurePosixPath(remote_path)
    if not path.is_absolute() or ".." in path.parts:
        raise UnsafeRemoteName(remote_path, "a remote folder must be absolute, without '..'")
    return path


def remote_dir(remote_root: str, business_date: str, branch: str | None) -> str:
    """`{remote_root}/{D}` or `{remote_root}/{D}/{B}` on the server, every part checked."""
    path = check_absolute(remote_root) / check_business_date(business_date)
    return str(path / check_branch(branch) if branch else path)


def local_dir(landing: Path, business_date: str, branch: str | None) -> Path:
    """The landing zone's folder mirroring `remote_dir`."""
    path = landing / check_business_date(business_date)
    return path / check_branch(branch) if branch else path


def inside(base: Path, name: str) -> Path:
    """`base / name`, after proving the result stays inside `base` (links resolved)."""
    check_file_name(name)
    target = (base / name).resolve()
    if target.parent != base.resolve():
        raise UnsafeRemoteName(name, f"would land outside {base}")
    return base / name


def ok_name(dat_name: str) -> str:
    """The flag's name of a data file: `X.dat` -> `X.ok`."""
    return dat_name[: -len(".dat")] + ".ok"
