"""dags/sftp_connection.py: an Airflow connection as the SFTP fetcher's credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from sftp_connection import credentials_from_connection  # dags/ is on sys.path (conftest)

from common.config import SftpSettings
from extract.sftp import SftpConfigError, SftpFetcher
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.airflow]


def test_credentials_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_CORE_SFTP_TEST",
        '{"conn_type": "sftp", "host": "127.0.0.1", "port": 2222, "login": "crm",'
        ' "password": "air-secret", "extra": {"key_file": "/keys/id_rsa",'
        ' "known_hosts": "/keys/known_hosts"}}',
    )
    monkeypatch.setenv("CRM_SFTP_HOST", "ignored")
    credentials = credentials_from_connection("crm_core_sftp_test")
    assert (credentials.host, credentials.port, credentials.user) == ("127.0.0.1", 2222, "crm")
    assert credentials.password == "air-secret"
    assert credentials.key_file == Path("/keys/id_rsa")
    assert credentials.known_hosts == Path("/keys/known_hosts")
    assert credentials.source == "Airflow connection 'crm_core_sftp_test'"
    assert "air-secret" not in repr(credentials)


def test_an_undefined_connection_is_named_in_the_error() -> None:
    with pytest.raises(SftpConfigError, match="'crm_no_such_sftp' cannot be read"):
        credentials_from_connection("crm_no_such_sftp")


@pytest.mark.sshd
@pytest.mark.xdist_group("sshd")
def test_the_fetcher_logs_in_with_the_connection_it_is_given(
    sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider is asked for the settings' connection id; its credentials log in."""
    server = sshd_server
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_CORE_SFTP_LIVE",
        f'{{"conn_type": "sftp", "host": "{server.host}", "port": {server.port},'
        f' "login": "{server.user}", "extra": {{"key_file": "{server.ed25519_key}",'
        f' "known_hosts": "{server.known_hosts}"}}}}',
    )
    monkeypatch.delenv("CRM_SFTP_HOST", raising=False)
    settings = SftpSettings(connection="crm_core_sftp_live", remote_root=str(server.remote_root))
    fetcher = SftpFetcher(settings, provider=credentials_from_connection)
    assert fetcher.credentials.source == "Airflow connection 'crm_core_sftp_live'"
    with fetcher.connect() as session:
        session.sftp.listdir(str(server.remote_root))
    assert "Accepted publickey" in server.log()
