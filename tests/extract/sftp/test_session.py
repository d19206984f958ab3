"""Opening a session against a real sshd: host keys checked, key and password logins,
no secret in any message.
"""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from extract.sftp import (
    HostKeyError,
    SftpAuthError,
    SftpCredentials,
)
from tests.extract.sftp.helpers import (
    D,
    Remote,
    fetcher,
    key_credentials,
    now,
)

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]


# -- host keys, authentication, credentials -----------------------------------------------


def test_unknown_host_key_is_refused(remote: Remote, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    server = remote.server
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=empty,
    )  # fmt: skip
    with pytest.raises(HostKeyError) as refused:
        fetcher(remote, credentials=credentials).fetch_date(D, ["ZJ"], tmp_path, now())
    message = str(refused.value)
    assert "not in the known_hosts file" in message and str(empty) in message
    assert "SHA256:" in message and "Confirm this fingerprint" in message
    assert not (tmp_path / D).exists()


def test_changed_host_key_is_refused(remote: Remote, tmp_path: Path) -> None:
    server = remote.server
    other = paramiko.Ed25519Key.from_private_key_file(str(server.ed25519_key))  # not the host's
    known = tmp_path / "known_hosts"
    known.write_text(f"[{server.host}]:{server.port} ssh-ed25519 {other.get_base64()}\n")
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=known,
    )  # fmt: skip
    with pytest.raises(HostKeyError, match="CHANGED.*ssh-keygen -R"):
        fetcher(remote, credentials=credentials).fetch_date(D, ["ZJ"], tmp_path, now())


def test_missing_known_hosts_file_is_refused(remote: Remote, tmp_path: Path) -> None:
    server = remote.server
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=tmp_path / "nope",
    )  # fmt: skip
    with pytest.raises(HostKeyError, match="not found"):
        fetcher(remote, credentials=credentials).connect()


@pytest.mark.parametrize("method", ["password", "rsa"])
def test_password_and_rsa_key_authentication(remote: Remote, tmp_path: Path, method: str) -> None:
    server = remote.server
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    remote.put("BJ", f"FND_CUST_BJ_{D}", "F1|P|张三|01|X|138|北京|BJ\n".encode())
    if method == "password":
        credentials = SftpCredentials(
            host=server.host, port=server.port, user=server.user,
            password=server.password, known_hosts=server.known_hosts,
        )  # fmt: skip
    else:
        credentials = key_credentials(server, server.rsa_key)
    report = fetcher(remote, credentials=credentials).fetch_date(D, ["BJ"], tmp_path, now())
    assert len(report.files) == 2
    assert f"Accepted {'password' if method == 'password' else 'publickey'}" in server.log()


def test_wrong_password_error_names_no_secret(remote: Remote) -> None:
    server = remote.server
    secret = "Wr0ng-but-secret"
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        password=secret, known_hosts=server.known_hosts,
    )  # fmt: skip
    assert secret not in repr(credentials)
    with pytest.raises(SftpAuthError) as refused:
        fetcher(remote, credentials=credentials).connect()
    assert secret not in str(refused.value) and server.user in str(refused.value)
