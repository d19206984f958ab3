"""The processes of this machine as /proc shows them: what the server fixtures need to
find (and kill) the processes a server or a worker started, whatever their names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of each live process:
    field 0 is the state, 1 the parent's pid, 3 the session id. The command name is
    skipped by its closing parenthesis, since it may hold spaces."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = entry.joinpath("stat").read_text()
        except OSError:
            continue  # gone meanwhile
        yield int(entry.name), stat[stat.rindex(")") + 2 :].split()
