"""Where the SFTP credentials come from: an Airflow connection inside Airflow, the
environment outside it. Never from YAML (config/pipeline.yaml only names the connection id).

Secrets (password, key passphrase, inline private key) are kept out of `repr`, logs and
error messages; messages name the user, host and key *file* only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extract.sftp_errors import SftpConfigError

ENV_PREFIX = "CRM_SFTP_"
ENV_VARS = ("HOST", "PORT", "USER", "KEY_FILE", "PASSWORD", "KEY_PASSPHRASE", "KNOWN_HOSTS")


@dataclass(frozen=True)
class SftpCredentials:
    """How to reach and log in to the file-exchange server.

    `key_file` (Ed25519 or RSA, OpenSSH or PEM format) and/or `password`; with both,
    the key is tried first. `known_hosts` overrides the settings' known_hosts file.
    `source` says where they came from, for messages ("Airflow connection 'x'").
    """

    host: str
    user: str
    port: int = 22
    key_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # inline key text (Airflow extra)
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SftpCredentials:
        """CRM_SFTP_HOST, _PORT, _USER, _KEY_FILE, _PASSWORD, _KEY_PASSPHRASE, _KNOWN_HOSTS."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value else None

        host, user = get("HOST"), get("USER")
        if not host or not user:
            raise SftpConfigError(
                "SFTP credentials: set CRM_SFTP_HOST and CRM_SFTP_USER (and CRM_SFTP_KEY_FILE "
                "or CRM_SFTP_PASSWORD), or run inside Airflow with the SFTP connection defined"
            )
        port_text = get("PORT") or "22"
        if not port_text.isdigit():
            raise SftpConfigError(f"CRM_SFTP_PORT must be a port number, not {port_text!r}")
        key_file = get("KEY_FILE")
        known_hosts = get("KNOWN_HOSTS")
        return cls(
            host=host,
            user=user,
            port=int(port_text),
            key_file=Path(key_file).expanduser() if key_file else None,
            password=get("PASSWORD"),
            key_passphrase=get("KEY_PASSPHRASE"),
            known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
            source="environment (CRM_SFTP_*)",
        )

    @classmethod
    def from_airflow(cls, conn_id: str) -> SftpCredentials:
        """An Airflow SSH/SFTP connection: host, port, login, password and the SSH
        provider's extras `key_file`, `private_key`, `private_key_passphrase`, plus
        `known_hosts` (a path). Airflow is imported here only: outside Airflow this module
        must not need it. `no_host_key_check` is ignored: host keys are always checked."""
        try:
            from airflow.sdk import BaseHook
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise SftpConfigError(
                f"Airflow connection {conn_id!r} asked for but Airflow is not importable"
            ) from exc
        try:
            conn: Any = BaseHook.get_connection(conn_id)
        except Exception as exc:
            raise SftpConfigError(
                f"Airflow connection {conn_id!r} cannot be read ({type(exc).__name__}); "
                "define it (type SSH or SFTP) in the Airflow UI or secrets backend"
            ) from None
        extra: dict[str, Any] = dict(conn.extra_dejson or {})
        key_file = extra.get("key_file")
        known_hosts = extra.get("known_hosts")
        return cls(
            host=conn.host or "",
            user=conn.login or "",
            port=int(conn.port or 22),
            key_file=Path(key_file).expanduser() if key_file else None,
            password=conn.password or None,
            key_passphrase=extra.get("private_key_passphrase") or None,
            private_key=extra.get("private_key") or None,
            known_hosts=Path(known_hosts).expanduser() if known_hosts else None,
            source=f"Airflow connection {conn_id!r}",
        )


def inside_airflow(environ: Mapping[str, str] | None = None) -> bool:
    """True while an Airflow task runs: the task runner exports AIRFLOW_CTX_DAG_ID."""
    env = os.environ if environ is None else environ
    return bool(env.get("AIRFLOW_CTX_DAG_ID"))


def resolve_credentials(
    connection_id: str, environ: Mapping[str, str] | None = None
) -> SftpCredentials:
    """The Airflow connection inside an Airflow task, the CRM_SFTP_* variables outside."""
    if inside_airflow(environ):
        return SftpCredentials.from_airflow(connection_id)
    return SftpCredentials.from_env(environ)
