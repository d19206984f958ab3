"""One look at a business date's folders on the server: which files are ready to fetch.

A data file is ready when its `.ok` flag is there (the sender writes the flag last); it
becomes a `Job` with the flag's text. Flags not there yet are `missing` (the fetcher
looks again until its deadline, as a sensor pokes); files that can never be landed
(unsafe names, links, unreadable or inconsistent flags) are `rejected`, with the reason.
Nothing here writes anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from common.errors import FileRejected
from extract.flag import parse_flag
from extract.sftp.errors import UnsafeRemoteName
from extract.sftp.job import Job
from extract.sftp.names import (
    check_directory,
    check_file_name,
    check_regular,
    local_dir,
    ok_name,
    remote_dir,
)

# A flag is one short line; more than this is not a flag.
FLAG_MAX_BYTES = 4096


@dataclass(frozen=True)
class DateRequest:
    """What is looked for: a business date's files of `branches` (and FXR_RATE) under
    `remote_root`, to land under `landing`; see `SftpFetcher.fetch_date` for `expected`
    and `optional`."""

    remote_root: str
    business_date: str
    branches: Sequence[str]
    landing: Path
    expected: Mapping[str, Sequence[str]] | None = None
    optional: Collection[str] = ()


@dataclass(frozen=True)
class Listing:
    """The result of one look: files ready, flags still missing, files refused."""

    jobs: list[Job]
    missing: list[str]
    rejected: dict[str, str]  # remote path -> reason


def list_date(sftp: paramiko.SFTPClient, request: DateRequest) -> Listing:
    """Look at each branch's folder and the date folder (for FXR_RATE) once."""
    business_date = request.business_date
    jobs: list[Job] = []
    missing: list[str] = []
    rejected: dict[str, str] = {}
    folders: list[tuple[str | None, list[str] | None]] = []
    for branch in request.branches:
        wanted = None
        if request.expected is not None:
            wanted = [
                f"{system}_{entity}_{branch}_{business_date}.dat"
                for system, entities in request.expected.items()
                for entity in entities
            ]
        folders.append((branch, wanted))
    folders.append((None, [f"FXR_RATE_{business_date}.dat"]))

    for folder_branch, wanted in folders:
        rdir = remote_dir(request.remote_root, business_date, folder_branch)
        ldir = local_dir(request.landing, business_date, folder_branch)
        entries = _listdir(sftp, rdir)
        if entries is None:
            if folder_branch is not None and folder_branch in request.optional:
                continue  # a city not reporting separately today
            missing.extend(f"{rdir}/{ok_name(n)}" for n in (wanted or ["*.dat"]))
            continue
        names = _candidates(rdir, entries, folder_branch, wanted, rejected)
        if wanted is None and not any(n.endswith(".ok") for n in entries):
            missing.append(f"{rdir}/*.ok (no flag at all for branch {folder_branch})")
        for name in names:
            flag_name = ok_name(name)
            if flag_name not in entries:
                missing.append(f"{rdir}/{flag_name}")
                continue
            if name not in entries:
                rejected[f"{rdir}/{name}"] = "flag present but data file missing"
                continue
            try:
                check_regular(name, entries[name])
                check_regular(flag_name, entries[flag_name])
                job = _job(sftp, rdir, ldir, name)
            except (UnsafeRemoteName, FileRejected) as exc:
                rejected[f"{rdir}/{name}"] = str(exc)
                continue
            except PermissionError as exc:
                rejected[f"{rdir}/{name}"] = f"flag cannot be read on the server: {exc}"
                continue
            jobs.append(job)
    return Listing(jobs, missing, rejected)


def _listdir(sftp: paramiko.SFTPClient, rdir: str) -> dict[str, paramiko.SFTPAttributes] | None:
    """Entries of a remote folder (lstat attributes), None if it does not exist yet.
    The folder itself must not be a link."""
    try:
        attrs = sftp.lstat(rdir)
    except FileNotFoundError:
        return None
    check_directory(rdir, attrs)
    return {a.filename: a for a in sftp.listdir_attr(rdir)}


def _candidates(
    rdir: str,
    entries: Mapping[str, paramiko.SFTPAttributes],
    branch: str | None,
    wanted: list[str] | None,
    rejected: dict[str, str],
) -> list[str]:
    """The data-file names to land from one folder; unsafe names go to `rejected`."""
    if wanted is not None:
        return wanted
    names: set[str] = set()
    for raw in entries:
        if raw.startswith("."):
            continue  # the sender's own temporary files
        if not raw.endswith((".dat", ".ok")):
            continue
        try:
            check_file_name(raw)
        except UnsafeRemoteName as exc:
            rejected[f"{rdir}/{raw}"] = str(exc)
            continue
        if branch is None and not raw.startswith("FXR_RATE_"):
            continue  # only the bank-wide rate file lives in the date folder
        names.add(raw if raw.endswith(".dat") else raw[: -len(".ok")] + ".dat")
    return sorted(names)


def _job(sftp: paramiko.SFTPClient, rdir: str, ldir: Path, name: str) -> Job:
    """Read and parse the flag of `name`; it must name its own data file."""
    flag_path = f"{rdir}/{ok_name(name)}"
    with sftp.open(flag_path, "rb") as handle:
        raw = handle.read(FLAG_MAX_BYTES)
    text = raw.decode("ascii", errors="replace")
    flag = parse_flag(text, f"sftp:{flag_path}")
    if flag.data_file != name:
        check_file_name(flag.data_file)  # a traversal name is refused as such
        raise FileRejected(f"sftp:{flag_path}", f"flag names {flag.data_file!r}, expected {name!r}")
    return Job(name, f"{rdir}/{name}", ldir, text, flag)
