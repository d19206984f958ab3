"""No password leaves in logs or notifications; an SQLite warehouse has its writer lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_pipeline.tasks.failures import redact_text
from crm_pipeline.tasks.secrets import warehouse_password
from crm_pipeline.tasks.sqlite_lock import single_sqlite_writer
from load.urls import password_of, redacted, sqlite_file

URL = "postgresql+psycopg://crm:s3cret@db.internal/crm"


def test_no_password_leaves_in_logs_or_notifications() -> None:
    assert "s3cret" not in redacted(URL)
    assert "s3cret" not in redact_text(f"could not connect to {URL}")
    assert redacted("not a url") == "<warehouse url not shown>"


def test_the_password_to_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    assert password_of(URL) == "s3cret"
    assert password_of("sqlite:///x.db") is None
    monkeypatch.setenv("CRM_WAREHOUSE_URL", URL)
    assert warehouse_password() == "s3cret"


def test_only_an_sqlite_file_is_locked(tmp_path: Path) -> None:
    assert sqlite_file(URL) is None and sqlite_file("sqlite://") is None
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    assert sqlite_file(url) == tmp_path / "wh.db"
    with single_sqlite_writer(url):
        assert (tmp_path / "wh.airflow.lock").exists()
    with single_sqlite_writer(URL):
        pass
