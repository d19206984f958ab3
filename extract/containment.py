"""A landed file is read only when it is a regular file inside the landing folder.

Why: the landing folder is filled by other systems (the core systems' SFTP drop, the
fetcher's mirror, an operator copying files by hand). A symbolic link there, or a path
that resolves outside it, would make the pipeline read whatever it points at: lines of
`/etc/passwd` once ended up in `crm_reject.raw` as "records" of a customer file. So a
link, or anything but a regular file, is a file fault with its reason, like a missing flag,
and the reader opens without following a link (`open_landed`), so a file swapped for a
link after the check is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from common.errors import FileRejected


def refuse_unsafe(path: Path, what: str, landing: Path | None = None) -> None:
    """FileRejected (naming `path`'s file) unless `path` is a regular file, not a symbolic
    link, and, when `landing` is given, resolves inside it. `what`: "data file" or "flag"."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # absence is the caller's rule (a missing flag or data file)
    if stat.S_ISLNK(info.st_mode):
        raise FileRejected(
            path.name, f"the {what} is a symbolic link (to {os.readlink(path)}): refused"
        )
    if not stat.S_ISREG(info.st_mode):
        raise FileRejected(path.name, f"the {what} is not a regular file: refused")
    if landing is not None:
        resolved, root = path.resolve(), landing.resolve()
        if not resolved.is_relative_to(root):
            raise FileRejected(
                path.name,
                f"the {what} resolves to {resolved}, outside the landing folder {root}: refused",
            )


def open_landed(path: Path) -> BinaryIO:
    """`path` opened for reading without following a symbolic link at its last component."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise FileRejected(path.name, "the data file is a symbolic link: refused") from exc
        raise
    return os.fdopen(fd, "rb")
