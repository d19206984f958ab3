"""The secrets a task log must never show, for the DAGs to register with Airflow's masker.

The warehouse URL may carry a password; every task that connects to the warehouse logs
its URL (redacted) and may log a driver's error message that repeats the URL. Masking the
password as the task starts covers both, whatever the message.
"""

from __future__ import annotations

from common import settings
from load.urls import password_of


def warehouse_password() -> str | None:
    """The password of the warehouse URL the tasks use (argument-less: env, else config)."""
    return password_of(settings.warehouse_url())
