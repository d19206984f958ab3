"""Redis fixture: the Celery broker of the distributed tests, Debian's `redis-server`.

One server per session on 127.0.0.1 and a free port, no persistence (nothing to keep: the
broker's queue only lives as long as the test's Airflow), its folder in tmp. Also started by
`bench/distributed_demo.py`. A server that cannot start fails the tests that need it, with
its log; they never skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.postgres import free_port

START_SECONDS = 30


class RedisServer:
    """A throwaway `redis-server` on loopback."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).is_file():
            raise RuntimeError("redis-server not found: run `make system-deps`")
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="crm-redis-"))
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # fmt: off
        command = [
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root),
            "--save", "", "--appendonly", "no", "--logfile", str(self.log), "--daemonize", "no",
        ]
        # fmt: on
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=self.root)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.process.returncode}:\n{self._log()}")
            if self.ping():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"redis-server not answering in {START_SECONDS}s:\n{self._log()}")

    def ping(self) -> bool:
        """A PING answered with PONG (the RESP protocol by hand: no client needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
        server.start()
    except Exception as exc:  # noqa: BLE001 - any cause must fail the tests, not skip them
        pytest.fail(f"Redis test server could not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
