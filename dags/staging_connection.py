"""The staging store's credentials from an Airflow connection, for the task's own process.

common/store.py reads an object store's endpoint and credentials from the environment only
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_REGION`), never from YAML. When the setting `CRM_STAGING_CONNECTION` (environment, else
the Airflow Variable `crm_staging_connection`) names a connection, a task calls
`export_staging_credentials()` first: the connection's values go into the task process's
environment (and so into the worker processes it spawns), the secret into the masker.

The connection is of type `aws`: login = access key id, password = secret access key,
extras `endpoint_url`, `region_name` and `aws_session_token` (the Amazon provider's names).
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import Connection
from airflow.sdk.log import mask_secret
from crm_settings import setting

CONNECTION_SETTING = "CRM_STAGING_CONNECTION"


def staging_environment(conn_id: str) -> dict[str, str]:
    """The environment variables an Airflow connection of type aws stands for."""
    from common.errors import PipelineError  # at run time, not when the DAGs are parsed

    try:
        conn: Any = Connection.get(conn_id)
    except Exception as exc:
        raise PipelineError(
            f"Airflow connection {conn_id!r} ({CONNECTION_SETTING}) cannot be read"
            f" ({type(exc).__name__}); define it (type aws) in the Airflow UI or secrets backend"
        ) from None
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    values = {
        "AWS_ACCESS_KEY_ID": conn.login or "",
        "AWS_SECRET_ACCESS_KEY": conn.password or "",
        "AWS_ENDPOINT_URL": str(extra.get("endpoint_url") or ""),
        "AWS_REGION": str(extra.get("region_name") or ""),
        "AWS_SESSION_TOKEN": str(extra.get("aws_session_token") or ""),
    }
    return {name: value for name, value in values.items() if value}


def export_staging_credentials() -> str:
    """Put the named connection's credentials into this process's environment; the
    connection id, or "" when none is configured (the environment's own are used)."""
    conn_id = setting(CONNECTION_SETTING)
    if not conn_id:
        return ""
    values = staging_environment(conn_id)
    for secret in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if values.get(secret):
            mask_secret(values[secret])
    os.environ.update(values)
    return conn_id
