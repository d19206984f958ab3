"""The SFTP source: mirror `/outbound/{D}/{B}/` of the file-exchange server into the local
landing zone, so the later steps read the same `{landing}/{D}/{B}/*.dat + .ok` layout as
with the local-folder source.

`SftpFetcher.fetch_date` looks at the branches' folders (extract/sftp/listing.py), lands
every data file whose `.ok` is there (extract/sftp/workers.py, each file through
extract/sftp/transfer.py), looks again for the rest until the deadline, then fails naming
the flags still missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from common.config import SftpSettings
from extract.sftp.credentials import CredentialsProvider, SftpCredentials, from_environment
from extract.sftp.errors import FlagDeadlineError, SftpConnectError, SftpTransferError
from extract.sftp.job import FetchedFile, Progress
from extract.sftp.listing import DateRequest, Listing, list_date
from extract.sftp.names import check_branch, check_business_date
from extract.sftp.session import LINK_ERRORS, SftpSession, open_session, pause_before_retry
from extract.sftp.workers import TransferOptions, fetch_all

log = logging.getLogger(__name__)


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


class SftpFetcher:
    """Fetches one business date's dumps from the file-exchange server.

    `credentials` are used as given; without them they are asked of `provider` for the
    settings' connection id (default: the CRM_SFTP_* environment variables; inside
    Airflow the DAG layer passes `dags.sftp_connection.credentials_from_connection`).
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
        provider: CredentialsProvider = from_environment,
        poll_seconds: float = 30.0,
        retries: int = 3,
        progress: Progress | None = None,
        clock: Callable[[], datetime] | None = None,
        verify_control_sum: bool = True,
        range_connections: int = 3,
    ) -> None:
        self.settings = settings
        self.credentials = credentials or provider(settings.connection)
        self.known_hosts = self.credentials.known_hosts or Path(settings.known_hosts)
        self.poll_seconds = poll_seconds
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.options = TransferOptions(
            max_parallel=settings.max_parallel,
            retries=retries,
            range_connections=max(1, range_connections),
            progress=progress,
            control_sum=verify_control_sum,
        )

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
        their files are waited for like any other. Files refused on verification are in
        `report.rejected` and are not landed (the province must not be published); a link
        that keeps failing raises SftpTransferError, missing flags at the deadline
        FlagDeadlineError.
        """
        check_business_date(business_date)
        for branch in branches:
            check_branch(branch)
        if deadline is None:
            deadline = self.clock() + timedelta(minutes=self.settings.flag_deadline_minutes)
        request = DateRequest(
            self.settings.remote_root, business_date, branches, landing, expected, optional
        )
        report = FetchReport(business_date)
        done: set[str] = set()
        failures: dict[str, str] = {}
        control: list[SftpSession] = []  # the listing session, reopened if the link drops
        try:
            while True:
                listing = self._list_retrying(control, request)
                report.rejected.update(listing.rejected)
                todo = [j for j in listing.jobs if j.remote_path not in done]
                done.update(j.remote_path for j in todo)
                transfers = fetch_all(todo, self.connect, self.options)
                report.files.extend(transfers.files)
                report.rejected.update(transfers.rejected)
                failures.update(transfers.failures)
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

    def look(
        self,
        business_date: str,
        branches: Sequence[str],
        landing: Path,
        expected: Mapping[str, Sequence[str]] | None = None,
        optional: Collection[str] = (),
    ) -> Listing:
        """One look at the date's folders (flags missing, files refused), nothing fetched:
        what a deferred sensor's trigger asks the server between two waits."""
        check_business_date(business_date)
        for branch in branches:
            check_branch(branch)
        request = DateRequest(
            self.settings.remote_root, business_date, branches, landing, expected, optional
        )
        control: list[SftpSession] = []
        try:
            return self._list_retrying(control, request)
        finally:
            for session in control:
                session.close()

    def _now(self, deadline: datetime) -> datetime:
        """The clock's time, made comparable with `deadline` (naive or aware alike)."""
        now = self.clock()
        if (deadline.tzinfo is None) != (now.tzinfo is None):
            now = now.replace(tzinfo=None) if deadline.tzinfo is None else now.astimezone()
        return now

    def _list_retrying(self, control: list[SftpSession], request: DateRequest) -> Listing:
        """`list_date` over the control session, reconnecting after a dropped link."""
        attempt = 0
        while True:
            if not control:
                control.append(self.connect())
            try:
                return list_date(control[0].sftp, request)
            except LINK_ERRORS as exc:
                control.pop().close()
                attempt += 1
                if attempt > self.options.retries:
                    raise SftpConnectError(
                        f"listing {request.remote_root}/{request.business_date} failed "
                        f"{attempt} times, last: {type(exc).__name__}: {exc}"
                    ) from None
                log.warning("listing failed (%s), reconnecting", type(exc).__name__)
                pause_before_retry(attempt)
