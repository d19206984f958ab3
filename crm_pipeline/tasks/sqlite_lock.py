"""One province at a time writes an SQLite warehouse (a file lock beside the database).

SQLite has a single writer; two provinces publishing at once make one of them fail
with "database is locked". PostgreSQL needs no such lock, so none is taken there.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from common.paths import project_path
from load.urls import sqlite_file

log = logging.getLogger(__name__)


@contextmanager
def single_sqlite_writer(url: str) -> Iterator[None]:
    """Hold the warehouse's writer lock while the block runs, if it is an SQLite file."""
    database = sqlite_file(url)
    if database is None:
        yield
        return
    lock_path = project_path(database).with_suffix(".airflow.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another province is writing the SQLite warehouse: waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
