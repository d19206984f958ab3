"""Fetch many files at once: worker threads, one SFTP session each, within one budget.

paramiko sessions are not shared between threads, so each worker opens its own. Every
transfer connection (a worker's, or an extra one a large file is split over) holds a
permit of one budget of `max_parallel`, so the server never sees more than that from us
(+ the fetcher's control session). A dropped link is retried over a fresh session,
resuming from the bytes on disk; a refused file is reported, not retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from common.errors import FileRejected
from extract.sftp.commit import already_landed
from extract.sftp.errors import (
    HostKeyError,
    SftpAuthError,
    SftpConfigError,
    SftpConnectError,
    UnsafeRemoteName,
)
from extract.sftp.job import FetchedFile, Job, Progress
from extract.sftp.ranged import Ranged
from extract.sftp.session import LINK_ERRORS, SftpSession, pause_before_retry
from extract.sftp.transfer import fetch_file

log = logging.getLogger(__name__)

# Errors after which reconnecting and resuming may help (the link, not the data).
_RETRIED: tuple[type[BaseException], ...] = (*LINK_ERRORS, SftpConnectError)


@dataclass(frozen=True)
class TransferOptions:
    """How the files are fetched (see `SftpFetcher`)."""

    max_parallel: int
    retries: int
    range_connections: int
    progress: Progress | None = None
    control_sum: bool = True


@dataclass
class Transfers:
    """What `fetch_all` did: files landed, files refused, links that kept failing."""

    files: list[FetchedFile] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # remote path -> reason
    failures: dict[str, str] = field(default_factory=dict)  # remote path -> last error


def fetch_all(
    jobs: list[Job], connect: Callable[[], SftpSession], options: TransferOptions
) -> Transfers:
    """Fetch `jobs`, biggest first, with up to `max_parallel` worker threads."""
    done = Transfers()
    if not jobs:
        return done
    pending = [j for j in jobs if not already_landed(j)]
    for job in jobs:
        if job not in pending:
            done.files.append(
                FetchedFile(job.name, job.local_dir / job.name, "unchanged", job.flag.size)
            )
    pending.sort(key=lambda j: j.flag.size, reverse=True)  # biggest first: shorter tail
    local = threading.local()
    sessions: list[SftpSession] = []
    lock = threading.Lock()
    budget = threading.Semaphore(options.max_parallel)
    ranged = Ranged(connect, options.range_connections, budget)

    def session() -> SftpSession:
        current: SftpSession | None = getattr(local, "session", None)
        if current is None:
            budget.acquire()
            try:
                current = connect()
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
            current.close()
            budget.release()

    def refuse(job: Job, reason: str) -> None:
        with lock:
            done.rejected[job.remote_path] = reason

    def run(job: Job) -> None:
        attempt = 0
        while True:
            try:
                fetched = fetch_file(
                    session().sftp, job, options.progress, options.control_sum, ranged
                )
            except FileRejected as exc:
                refuse(job, str(exc.reason))
                return
            except UnsafeRemoteName as exc:
                refuse(job, str(exc))
                return
            except PermissionError as exc:  # the server's answer, not the link's
                refuse(job, f"permission denied: {exc}")
                return
            except (HostKeyError, SftpAuthError, SftpConfigError):
                raise
            except _RETRIED as exc:
                drop_session()
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"
                if attempt > options.retries:
                    with lock:
                        done.failures[job.remote_path] = reason
                    return
                log.warning(
                    "%s: link failed (%s), resuming (attempt %d of %d)",
                    job.remote_path,
                    reason,
                    attempt,
                    options.retries,
                )
                pause_before_retry(attempt)
                continue
            with lock:
                done.files.append(fetched)
            return

    workers = max(1, min(options.max_parallel, len(pending)))
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="sftp") as pool:
            for future in [pool.submit(run, job) for job in pending]:
                future.result()
    finally:
        for current in sessions:
            current.close()
    return done
