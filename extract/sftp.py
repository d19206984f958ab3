"""The SFTP source: mirror `/outbound/{D}/{B}/` of the file-exchange server into the local
landing zone, so the later steps read the same `{landing}/{D}/{B}/*.dat + .ok` layout as
with the local-folder source.

`SftpFetcher.fetch_date` lists the branches' folders (and the bank-wide FXR_RATE file),
lands every data file whose `.ok` is there, polls for the rest until the deadline, then
fails naming the flags still missing. Files are fetched in parallel, one SFTP session per
worker thread, at most `settings.max_parallel` at a time. Each file goes through
`extract.sftp_transfer.fetch_file`: partial download kept across failures, resume from the
bytes on disk, verify against the flag, rename atomically.
"""

from __future__ import annotations

import contextlib
import logging
import stat
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import paramiko

from common.config import SftpSettings
from common.errors import FileRejected, PipelineError
from extract.flag import parse_flag
from extract.sftp_credentials import SftpCredentials, resolve_credentials
from extract.sftp_errors import (
    FlagDeadlineError,
    HostKeyError,
    SftpAuthError,
    SftpConfigError,
    SftpConnectError,
    SftpError,
    SftpTransferError,
    UnsafeRemoteName,
)
from extract.sftp_paths import (
    check_branch,
    check_business_date,
    check_file_name,
    check_regular,
    local_dir,
    ok_name,
    remote_dir,
)
from extract.sftp_push import PushedFile, PushVerifyError, push_file
from extract.sftp_session import SftpSession, open_session
from extract.sftp_transfer import FetchedFile, Job, Progress, Ranged, already_landed, fetch_file

log = logging.getLogger(__name__)

__all__ = [
    "FetchReport",
    "FetchedFile",
    "FlagDeadlineError",
    "HostKeyError",
    "PushVerifyError",
    "PushedFile",
    "SftpAuthError",
    "SftpConfigError",
    "SftpConnectError",
    "SftpCredentials",
    "SftpError",
    "SftpFetcher",
    "SftpTransferError",
    "UnsafeRemoteName",
    "push_file",
    "resolve_credentials",
]

# Errors after which reconnecting and resuming may help (the link, not the data).
_LINK_ERRORS = (OSError, EOFError, paramiko.SSHException, SftpConnectError)


@dataclass
class FetchReport:
    """What one `fetch_date` call did: landed files, refused files, flags still missing."""

    business_date: str
    files: list[FetchedFile] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # remote path -> reason
    missing: list[str] = field(default_factory=list)

    @property
    def bytes_transferred(self) -> int:
        return sum(f.bytes_transferred for f in self.files)

    def by_name(self) -> dict[str, FetchedFile]:
        return {f.name: f for f in self.files}


@dataclass(frozen=True)
class _Listing:
    jobs: list[Job]
    missing: list[str]
    rejected: dict[str, str]


class SftpFetcher:
    """Fetches one business date's dumps from the file-exchange server.

    `poll_seconds` is how often missing flags are looked for again; `retries` how many
    times a file is resumed over a fresh session after the link dropped; `progress` is
    called with (file name, bytes on disk, total) as data arrives (from several threads
    at once for a file split over several connections). `verify_control_sum`
    False leaves the control sum to the parse step (bytes and line count are always
    checked): the benchmark uses it to time the transfer alone. `range_connections`
    (default 3) is how many connections a file of 64 MiB or more may be split over, while
    the total stays within `max_parallel` (1 disables splitting).
    """

    def __init__(
        self,
        settings: SftpSettings,
        credentials: SftpCredentials | None = None,
        *,
        poll_seconds: float = 30.0,
        retries: int = 3,
        progress: Progress | None = None,
        clock: Callable[[], datetime] | None = None,
        verify_control_sum: bool = True,
        range_connections: int = 3,
    ) -> None:
        self.settings = settings
        self.credentials = credentials or resolve_credentials(settings.connection)
        self.known_hosts = self.credentials.known_hosts or Path(settings.known_hosts)
        self.poll_seconds = poll_seconds
        self.retries = retries
        self.progress = progress
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.verify_control_sum = verify_control_sum
        self.range_connections = max(1, range_connections)

    def connect(self) -> SftpSession:
        """A new authenticated session (host key checked against `known_hosts`)."""
        return open_session(self.credentials, self.known_hosts)

    def fetch_date(
        self,
        business_date: str,
        branches: Sequence[str],
        landing: Path,
        deadline: datetime | None = None,
        expected: Mapping[str, Sequence[str]] | None = None,
        optional: Collection[str] = (),
    ) -> FetchReport:
        """Land the branches' files and FXR_RATE for `business_date` under `landing`.

        `expected` ({system: [entity, ...]}, as in provinces.yaml) names the files each
        branch must send; without it every `.dat` found must get its `.ok`, and each branch
        folder must hold at least one flag. `deadline` defaults to now plus the settings'
        `flag_deadline_minutes`. Branches in `optional` (city branches, which report
        separately only on some days) may have no folder at all; once their folder exists
        their files are waited for like any other. Files refused on verification are in `report.rejected`
        and are not landed (the province must not be published); a link that keeps
        failing raises SftpTransferError, missing flags at the deadline FlagDeadlineError.
        """
        check_business_date(business_date)
        for branch in branches:
            check_branch(branch)
        if deadline is None:
            deadline = self.clock() + timedelta(minutes=self.settings.flag_deadline_minutes)
        report = FetchReport(business_date)
        done: set[str] = set()
        failures: dict[str, str] = {}
        control: list[SftpSession] = []  # the listing session, reopened if the link drops
        try:
            while True:
                listing = self._list_retrying(
                    control, business_date, branches, landing, expected, optional
                )
                report.rejected.update(listing.rejected)
                todo = [j for j in listing.jobs if j.remote_path not in done]
                for job in todo:
                    done.add(job.remote_path)
                self._fetch_all(todo, report, failures)
                if not listing.missing or self._now(deadline) >= deadline:
                    report.missing = listing.missing
                    break
                pause = min(self.poll_seconds, (deadline - self._now(deadline)).total_seconds())
                log.info(
                    "%s: %d flag(s) not there yet, next look in %.0f s",
                    business_date,
                    len(listing.missing),
                    pause,
                )
                time.sleep(max(pause, 0.0))
        finally:
            for session in control:
                session.close()
        for path, reason in report.rejected.items():
            log.error("refused %s: %s", path, reason)
        if failures:
            raise SftpTransferError(failures)
        if report.missing:
            raise FlagDeadlineError(business_date, deadline.isoformat(), report.missing)
        return report

    # -- listing ---------------------------------------------------------------------

    def _now(self, deadline: datetime) -> datetime:
        now = self.clock()
        if (deadline.tzinfo is None) != (now.tzinfo is None):
            now = now.replace(tzinfo=None) if deadline.tzinfo is None else now.astimezone()
        return now

    def _list_retrying(
        self,
        control: list[SftpSession],
        business_date: str,
        branches: Sequence[str],
        landing: Path,
        expected: Mapping[str, Sequence[str]] | None,
        optional: Collection[str],
    ) -> _Listing:
        """`_list` over the control session, reconnecting after a dropped link."""
        attempt = 0
        while True:
            if not control:
                control.append(self.connect())
            try:
                return self._list(
                    control[0].sftp, business_date, branches, landing, expected, optional
                )
            except (OSError, EOFError, paramiko.SSHException) as exc:
                control.pop().close()
                attempt += 1
                if attempt > self.retries:
                    raise SftpConnectError(
                        f"listing {self.settings.remote_root}/{business_date} failed "
                        f"{attempt} times, last: {type(exc).__name__}: {exc}"
                    ) from None
                log.warning("listing failed (%s), reconnecting", type(exc).__name__)
                time.sleep(min(2.0**attempt, 30.0))

    def _list(
        self,
        sftp: paramiko.SFTPClient,
        business_date: str,
        branches: Sequence[str],
        landing: Path,
        expected: Mapping[str, Sequence[str]] | None,
        optional: Collection[str] = (),
    ) -> _Listing:
        jobs: list[Job] = []
        missing: list[str] = []
        rejected: dict[str, str] = {}
        folders: list[tuple[str | None, list[str] | None]] = []
        for branch in branches:
            wanted = None
            if expected is not None:
                wanted = [
                    f"{system}_{entity}_{branch}_{business_date}.dat"
                    for system, entities in expected.items()
                    for entity in entities
                ]
            folders.append((branch, wanted))
        folders.append((None, [f"FXR_RATE_{business_date}.dat"]))

        for folder_branch, wanted in folders:
            rdir = remote_dir(self.settings.remote_root, business_date, folder_branch)
            ldir = local_dir(landing, business_date, folder_branch)
            entries = self._listdir(sftp, rdir)
            if entries is None:
                if folder_branch is not None and folder_branch in optional:
                    continue  # a city not reporting separately today
                missing.extend(f"{rdir}/{ok_name(n)}" for n in (wanted or ["*.dat"]))
                continue
            names = self._candidates(rdir, entries, folder_branch, wanted, rejected)
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
                    job = self._job(sftp, rdir, ldir, name)
                except (UnsafeRemoteName, FileRejected) as exc:
                    rejected[f"{rdir}/{name}"] = str(exc)
                    continue
                except PermissionError as exc:
                    rejected[f"{rdir}/{name}"] = f"flag cannot be read on the server: {exc}"
                    continue
                jobs.append(job)
        return _Listing(jobs, missing, rejected)

    @staticmethod
    def _listdir(sftp: paramiko.SFTPClient, rdir: str) -> dict[str, paramiko.SFTPAttributes] | None:
        """Entries of a remote folder (lstat attributes), None if it does not exist yet.
        The folder itself must not be a link."""
        try:
            attrs = sftp.lstat(rdir)
        except FileNotFoundError:
            return None
        if attrs.st_mode is not None and not stat.S_ISDIR(attrs.st_mode):
            raise UnsafeRemoteName(rdir, "the remote folder is a link or not a directory")
        return {a.filename: a for a in sftp.listdir_attr(rdir)}

    @staticmethod
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

    @staticmethod
    def _job(sftp: paramiko.SFTPClient, rdir: str, ldir: Path, name: str) -> Job:
        flag_path = f"{rdir}/{ok_name(name)}"
        with sftp.open(flag_path, "rb") as handle:
            raw = handle.read(4096)
        text = raw.decode("ascii", errors="replace")
        flag = parse_flag(text, f"sftp:{flag_path}")
        if flag.data_file != name:
            check_file_name(flag.data_file)  # a traversal name is refused as such
            raise FileRejected(
                f"sftp:{flag_path}", f"flag names {flag.data_file!r}, expected {name!r}"
            )
        return Job(name, f"{rdir}/{name}", ldir, text, flag)

    # -- transfers -------------------------------------------------------------------

    def _fetch_all(self, jobs: list[Job], report: FetchReport, failures: dict[str, str]) -> None:
        """Fetch `jobs` with up to max_parallel worker threads, one session each."""
        if not jobs:
            return
        pending = [j for j in jobs if not already_landed(j)]
        for job in jobs:
            if job not in pending:
                report.files.append(
                    FetchedFile(job.name, job.local_dir / job.name, "unchanged", job.flag.size)
                )
        pending.sort(key=lambda j: j.flag.size, reverse=True)  # biggest first: shorter tail
        local = threading.local()
        sessions: list[SftpSession] = []
        lock = threading.Lock()
        # One permit per open transfer connection: the workers' own sessions and the extra
        # ones a large file is split over, so the server sees at most max_parallel (+ the
        # control session) from us.
        budget = threading.Semaphore(self.settings.max_parallel)
        ranged = Ranged(self.connect, self.range_connections, budget)

        def session() -> SftpSession:
            current: SftpSession | None = getattr(local, "session", None)
            if current is None:
                budget.acquire()
                try:
                    current = self.connect()
                except BaseException:
                    budget.release()
                    raise
                local.session = current
                with lock:
                    sessions.append(current)
            return current

        def drop_session() -> None:
            current: SftpSession | None = getattr(local, "session", None)
            local.session = None
            if current is not None:
                with contextlib.suppress(OSError, PipelineError, paramiko.SSHException, EOFError):
                    current.close()
                budget.release()

        def run(job: Job) -> None:
            attempt = 0
            while True:
                try:
                    fetched = fetch_file(
                        session().sftp, job, self.progress, self.verify_control_sum, ranged
                    )
                except FileRejected as exc:
                    with lock:
                        report.rejected[job.remote_path] = str(exc.reason)
                    return
                except UnsafeRemoteName as exc:
                    with lock:
                        report.rejected[job.remote_path] = str(exc)
                    return
                except PermissionError as exc:  # the server's answer, not the link's
                    with lock:
                        report.rejected[job.remote_path] = f"permission denied: {exc}"
                    return
                except (HostKeyError, SftpAuthError, SftpConfigError):
                    raise
                except _LINK_ERRORS as exc:
                    drop_session()
                    attempt += 1
                    reason = f"{type(exc).__name__}: {exc}"
                    if attempt > self.retries:
                        with lock:
                            failures[job.remote_path] = reason
                        return
                    log.warning(
                        "%s: link failed (%s), resuming (attempt %d of %d)",
                        job.remote_path,
                        reason,
                        attempt,
                        self.retries,
                    )
                    time.sleep(min(2.0**attempt, 30.0))
                    continue
                with lock:
                    report.files.append(fetched)
                return

        workers = max(1, min(self.settings.max_parallel, len(pending)))
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="sftp") as pool:
                for future in [pool.submit(run, job) for job in pending]:
                    future.result()
        finally:
            for current in sessions:
                with contextlib.suppress(OSError, PipelineError, paramiko.SSHException):
                    current.close()
