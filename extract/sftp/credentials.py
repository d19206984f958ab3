"""How to log in to the file-exchange server, and where that comes from.

Credentials are looked up by connection id (`source.sftp.connection` in
config/pipeline.yaml; never the secrets themselves) through a *provider*: a callable
`connection id -> SftpCredentials`. extract's own provider is the environment
(`from_environment`, the CRM_SFTP_* variables). Inside Airflow the DAG layer passes its
own provider, `dags.sftp_connection.credentials_from_connection`, which reads the Airflow
connection of that id: extract never imports Airflow.

Secrets (password, key passphrase, inline private key) are kept out of `repr`, logs and
error messages; messages name the user, host and key *file* only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from extract.sftp.errors import SftpConfigError

ENV_PREFIX = "CRM_SFTP_"
#: The CRM data server that exports are pushed to is another server, with its own variables.
EXPORT_ENV_PREFIX = "CRM_EXPORT_SFTP_"

#: connection id -> credentials (the environment's, an Airflow connection's, a test's).
CredentialsProvider = Callable[[str], "SftpCredentials"]


@dataclass(frozen=True)
class SftpCredentials:
    """How to reach and log in to the file-exchange server.

    `key_file` (Ed25519 or RSA, OpenSSH or PEM format), `private_key` (the key's text)
    and/or `password`; with a key and a password, the key is tried first. `known_hosts`
    overrides the settings' known_hosts file. `source` says where they came from, for
    messages ("Airflow connection 'x'").
    """

    host: str
    user: str
    port: int = 22
    key_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # inline key text
    known_hosts: Path | None = None
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.host or not self.user:
            raise SftpConfigError(
                f"SFTP credentials from {self.source}: host and user are required"
            )
        if not (self.key_file or self.private_key or self.password):
            raise SftpConfigError(
                f"SFTP credentials from {self.source}: give a key file or a password"
            )

    @property
    def where(self) -> str:
        """`user@host:port`, safe for logs."""
        return f"{self.user}@{self.host}:{self.port}"


def optional_path(text: str | None) -> Path | None:
    """A configured path with `~` expanded; None when not given (None or empty)."""
    return Path(text).expanduser() if text else None


def from_environment(
    connection_id: str = "",
    environ: Mapping[str, str] | None = None,
    *,
    prefix: str = ENV_PREFIX,
) -> SftpCredentials:
    """The default provider: {prefix}HOST, _PORT, _USER, _KEY_FILE, _PASSWORD,
    _KEY_PASSPHRASE, _KNOWN_HOSTS (prefix CRM_SFTP_ for the file-exchange server,
    CRM_EXPORT_SFTP_ for the CRM data server). One server per prefix, so `connection_id`
    only names what was asked for in the message when the variables are missing."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(prefix + name)
        return value if value else None

    host, user = get("HOST"), get("USER")
    if not host or not user:
        asked = f" for connection {connection_id!r}" if connection_id else ""
        raise SftpConfigError(
            f"SFTP credentials{asked}: set {prefix}HOST and {prefix}USER (and "
            f"{prefix}KEY_FILE or {prefix}PASSWORD), or run inside Airflow with the SFTP "
            "connection defined"
        )
    port_text = get("PORT") or "22"
    if not port_text.isdigit():
        raise SftpConfigError(f"{prefix}PORT must be a port number, not {port_text!r}")
    return SftpCredentials(
        host=host,
        user=user,
        port=int(port_text),
        key_file=optional_path(get("KEY_FILE")),
        password=get("PASSWORD"),
        key_passphrase=get("KEY_PASSPHRASE"),
        known_hosts=optional_path(get("KNOWN_HOSTS")),
        source=f"environment ({prefix}*)",
    )


def export_from_environment(
    connection_id: str = "", environ: Mapping[str, str] | None = None
) -> SftpCredentials:
    """The CRM data server's credentials from the CRM_EXPORT_SFTP_* variables (a provider)."""
    return from_environment(connection_id, environ, prefix=EXPORT_ENV_PREFIX)
