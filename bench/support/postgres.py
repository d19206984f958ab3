"""The warehouse of a benchmark: the URL given, or a throwaway PostgreSQL started for it
(as tests/servers/postgres.py does for the tests, fsync on unless asked)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.servers.postgres import PostgresServer


@contextmanager
def warehouse(url: str | None, fsync: bool = True) -> Iterator[str]:
    """Yields the warehouse URL; a server started here is stopped on the way out."""
    if url:
        yield url
        return
    server = PostgresServer(fsync=fsync)
    server.start()
    try:
        yield server.url(server.create_database())
    finally:
        server.stop()
