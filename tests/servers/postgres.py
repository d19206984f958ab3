"""PostgreSQL server fixture (initdb/pg_ctl as a non-root user).

`pg_url` (session): a throwaway cluster in a temporary folder, listening on 127.0.0.1 and a
free port (its unix socket in the same folder), and an empty database for the session.
Each test worker (pytest-xdist) starts its own server, so PostgreSQL tests run on both.
`pg_db_url` (function): a fresh database for one test, created from the (never connected
to) template database `crm_template` and dropped afterwards, so tests never see each
other's rows.

PostgreSQL refuses to run as root: when the tests run as root the cluster belongs to the
user `crmpg` (created if missing). A server that cannot start FAILS the tests that need
it, loudly, with its log: a skipped PostgreSQL test would hide the production database.
The cluster runs with fsync off: it is thrown away, and durability is not what is tested.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "crmpg"  # the OS user owning the cluster when we are root
DB_USER = "crm"  # the database superuser
TEMPLATE = "crm_template"


def pg_bin_dir() -> Path:
    """The newest PostgreSQL binaries: /usr/lib/postgresql/N/bin, else initdb on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL not found: run `make system-deps` (initdb, pg_ctl)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_os_user() -> str | None:
    """The user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=False,
            capture_output=True,
            text=True,
        )
        # Each test worker starts its own server: another one may have made the user first.
        if made.returncode != 0 and PG_USER not in {e.pw_name for e in pwd.getpwall()}:
            raise RuntimeError(f"useradd {PG_USER} failed: {made.stderr.strip()}") from None
    return PG_USER


class PostgresServer:
    """A throwaway PostgreSQL cluster; also used by bench/load_postgres.py."""

    def __init__(self, *, fsync: bool = False, shared_buffers: str | None = None) -> None:
        self.bin = pg_bin_dir()
        self.user = _ensure_os_user()
        self.port = free_port()
        self.fsync = fsync
        self.shared_buffers = shared_buffers  # None: PostgreSQL's default (128MB)
        # Not under pytest's tmp_path: its parents are private to root, and the server's
        # user must be able to reach its folder.
        self.root = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._names = itertools.count(1)
        if self.user:
            shutil.chown(self.root, self.user, self.user)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self.user,
            group=self.user,
            capture_output=True,
            text=True,
            cwd=self.root,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n--- server log ---\n{log}"
            )
        return result

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", DB_USER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=100"
            f" -c fsync={'on' if self.fsync else 'off'}"
            f" -c synchronous_commit={'on' if self.fsync else 'off'}"
            f" -c full_page_writes={'on' if self.fsync else 'off'}"
        )
        if self.shared_buffers:
            options += f" -c shared_buffers={self.shared_buffers}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip
        self.execute(f'CREATE DATABASE "{TEMPLATE}"')

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = TEMPLATE, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement in the `postgres` database, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str = TEMPLATE) -> str:
        name = f"crm_test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except Exception as exc:  # noqa: BLE001 - any cause must fail the tests, not skip them
        pytest.fail(f"PostgreSQL test server could not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer) -> str:
    """URL of an empty database shared by the whole session (not the template)."""
    return pg_server.url(pg_server.create_database())


@pytest.fixture
def pg_db_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh database for this test only, dropped afterwards."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
