"""Fixtures of the SFTP tests: a remote root per test, and no session left open."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.extract.sftp.helpers import Remote
from tests.servers.sshd import SshdServer


@pytest.fixture
def remote(sshd_server: SshdServer, request: pytest.FixtureRequest) -> Remote:
    root = sshd_server.remote_root / request.node.name.replace("[", "_").replace("]", "")
    root.mkdir()
    sshd_server.chown_to_user(root)
    return Remote(sshd_server, root)


@pytest.fixture
def no_leftover_sessions(sshd_server: SshdServer) -> Iterator[None]:
    """Every test closes the sessions it opened (workers and the control session)."""
    yield
    deadline = time.monotonic() + 5
    while sshd_server.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sshd_server.descendants(), "SFTP sessions left open by the test"
