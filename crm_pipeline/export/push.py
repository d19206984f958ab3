"""Push an export to the CRM data server: `{remote_root}/{D}/{P}/` over SFTP.

The server and the connection id come from `export.sftp` in config/pipeline.yaml; the
credentials never do: a provider turns the connection id into them (by default the
CRM_EXPORT_SFTP_* environment variables; in Airflow, `dags.sftp_connection`'s reading of
the Airflow connection). The transfer itself is extract's: data files first, resumed and
verified, renamed into place, the flags last (extract/sftp/push.py), reconnecting when
the link drops (extract/sftp/deliver.py).
"""

from __future__ import annotations

from pathlib import Path

from common import config
from crm_pipeline.export.batch import ExportResult
from extract.sftp.credentials import CredentialsProvider, export_from_environment
from extract.sftp.deliver import deliver
from extract.sftp.push import PushedFile


def push_export(
    result: ExportResult, provider: CredentialsProvider | None = None
) -> list[PushedFile]:
    """Push the files of `result` (in their order: the batch file's flag appears last)."""
    target = config.settings().export.sftp
    credentials = (provider or export_from_environment)(target.connection)
    known_hosts = credentials.known_hosts or Path(target.known_hosts).expanduser()
    return deliver(
        credentials,
        known_hosts,
        [(file.path, file.flag) for file in result.files],
        target.remote_root,
        result.day,
        result.batch.province,
        checksum=target.verify_checksum,
        attempts=target.attempts,
    )
