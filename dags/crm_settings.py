"""What the DAG tasks read from the environment or Airflow Variables, and what they mask.

A setting is the environment variable of the workers if set, else the Airflow Variable of
the same name in lower case (`CRM_PROVINCES` -> `crm_provinces`), else empty: the DAGs
resolve it here and hand the value to `crm_pipeline.tasks`, which knows nothing of Airflow.
"""

from __future__ import annotations

import os

from airflow.sdk import Variable
from airflow.sdk.log import mask_secret

#: Provinces a scheduled run expects, comma-separated.
PROVINCES_SETTING = "CRM_PROVINCES"
#: A failure webhook (JSON POST) and failure mail recipients (comma-separated).
WEBHOOK_SETTING = "CRM_ALERT_WEBHOOK"
MAIL_SETTING = "CRM_ALERT_EMAIL"


def setting(name: str) -> str:
    """The environment variable `name`, else the Airflow Variable `name.lower()`, else ""."""
    value = os.environ.get(name, "")
    if value:
        return value
    try:
        return str(Variable.get(name.lower(), default="") or "")
    except Exception:  # no API to ask (a test, a parse): not configured
        return ""


def mask_warehouse_password() -> None:
    """Tell Airflow's secrets masker the warehouse password, before anything is logged."""
    from crm_pipeline.tasks.secrets import warehouse_password  # at run time: not at parse

    password = warehouse_password()
    if password:
        mask_secret(password)
