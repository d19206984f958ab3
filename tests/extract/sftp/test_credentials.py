"""Where the credentials come from: the environment by default, or the provider given."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import SftpSettings
from extract.sftp import SftpConfigError, SftpCredentials, SftpFetcher
from extract.sftp.credentials import from_environment


def test_credentials_from_the_environment_outside_airflow(tmp_path: Path) -> None:
    env = {
        "CRM_SFTP_HOST": "127.0.0.1",
        "CRM_SFTP_PORT": "2222",
        "CRM_SFTP_USER": "crm",
        "CRM_SFTP_KEY_FILE": str(tmp_path / "id_ed25519"),
        "CRM_SFTP_PASSWORD": "s3cret-pass",
        "CRM_SFTP_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
    }
    credentials = from_environment("crm_core_sftp", env)
    assert (credentials.host, credentials.port, credentials.user) == ("127.0.0.1", 2222, "crm")
    assert credentials.key_file == tmp_path / "id_ed25519"
    assert credentials.known_hosts == tmp_path / "known_hosts"
    assert "s3cret-pass" not in repr(credentials)


def test_missing_or_bad_environment_is_a_config_error() -> None:
    with pytest.raises(SftpConfigError, match="connection 'crm_core_sftp'.*CRM_SFTP_HOST"):
        from_environment("crm_core_sftp", {"CRM_SFTP_USER": "crm"})
    with pytest.raises(SftpConfigError, match="CRM_SFTP_PORT must be a port number"):
        from_environment("x", {"CRM_SFTP_HOST": "h", "CRM_SFTP_USER": "u", "CRM_SFTP_PORT": "ssh"})
    with pytest.raises(SftpConfigError, match="give a key file or a password"):
        from_environment("x", {"CRM_SFTP_HOST": "h", "CRM_SFTP_USER": "u"})


def test_the_fetcher_asks_its_provider_for_the_settings_connection(tmp_path: Path) -> None:
    """Without explicit credentials the provider given is asked, by connection id; the
    environment is the default provider."""
    asked: list[str] = []
    given = SftpCredentials(host="h", user="u", password="p", source="test provider")

    def provider(connection_id: str) -> SftpCredentials:
        asked.append(connection_id)
        return given

    settings = SftpSettings(connection="crm_other_sftp", known_hosts=str(tmp_path / "kh"))
    fetcher = SftpFetcher(settings, provider=provider)
    assert asked == ["crm_other_sftp"] and fetcher.credentials is given
    assert fetcher.known_hosts == tmp_path / "kh"  # the settings' file: none in the provider's
    explicit = SftpCredentials(host="e", user="u", password="p")
    assert SftpFetcher(settings, explicit, provider=provider).credentials is explicit
    assert asked == ["crm_other_sftp"]  # explicit credentials: the provider is not asked
