"""SFTP credentials from an Airflow connection: the provider the DAG tasks hand to extract.

extract/ never imports Airflow: it asks a provider (`connection id -> SftpCredentials`)
for its credentials, by default the CRM_SFTP_* environment variables. Inside an Airflow
task the connection named by `source.sftp.connection` (config/pipeline.yaml) is the
source instead; pass `credentials_from_connection` as that provider, e.g.
`SftpFetcher(settings, provider=credentials_from_connection)`.

The connection is of type SSH or SFTP: host, port, login, password, and the SSH
provider's extras `key_file` (a path), `private_key` (the key's text),
`private_key_passphrase`, plus `known_hosts` (a path, overriding the YAML one).
`no_host_key_check` is ignored: host keys are always checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Connection

if TYPE_CHECKING:
    from extract.sftp.credentials import SftpCredentials


def credentials_from_connection(conn_id: str) -> SftpCredentials:
    """The Airflow connection `conn_id` as SFTP credentials (a `CredentialsProvider`).

    Raises SftpConfigError when the connection cannot be read, naming it but none of its
    content."""
    # extract loads when a task runs, not when the DAG folder is parsed
    # (tests/dags/test_dag_integrity.py: no stage is imported at parse time).
    from extract.sftp.credentials import SftpCredentials, optional_path
    from extract.sftp.errors import SftpConfigError

    try:
        conn: Any = Connection.get(conn_id)
    except Exception as exc:
        raise SftpConfigError(
            f"Airflow connection {conn_id!r} cannot be read ({type(exc).__name__}); "
            "define it (type SSH or SFTP) in the Airflow UI or secrets backend"
        ) from None
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    return SftpCredentials(
        host=conn.host or "",
        user=conn.login or "",
        port=int(conn.port or 22),
        key_file=optional_path(extra.get("key_file")),
        password=conn.password or None,
        key_passphrase=extra.get("private_key_passphrase") or None,
        private_key=extra.get("private_key") or None,
        known_hosts=optional_path(extra.get("known_hosts")),
        source=f"Airflow connection {conn_id!r}",
    )


def connection_defined(conn_id: str) -> bool:
    """Whether the Airflow connection `conn_id` can be read (the export pushes only then)."""
    try:
        Connection.get(conn_id)
    except Exception:  # noqa: BLE001 - any failure to read it means: not defined here
        return False
    return True
