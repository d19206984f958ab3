"""What the fetcher hands from step to step: a file to fetch (`Job`), what became of it
(`FetchedFile`), and the progress callback's shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from extract.flag import Flag

Progress = Callable[[str, int, int], None]  # (file name, bytes on disk, total bytes)
Status = Literal["downloaded", "resumed", "replaced", "unchanged"]


@dataclass(frozen=True)
class Job:
    """A data file whose flag is on the server, with that flag's text and content.

    The flag's exact text is kept: it identifies the version of the file (a re-send
    comes with a new flag), so a partial or landed file is trusted only beside it."""

    name: str
    remote_path: str
    local_dir: Path
    flag_text: str
    flag: Flag


@dataclass(frozen=True)
class FetchedFile:
    """What happened to one data file."""

    name: str
    path: Path
    status: Status
    size: int
    resumed_from: int = 0
    bytes_transferred: int = 0
