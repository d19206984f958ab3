"""Warehouse URLs: the default, and what of a URL the other layers may see (load.urls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.paths import PROJECT_ROOT
from load import password_of, redacted, resolve_url, sqlite_file


def test_warehouse_url_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert resolve_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert (
        resolve_url("postgresql+psycopg://u@127.0.0.1:5/x")
        == "postgresql+psycopg://u@127.0.0.1:5/x"
    )
    monkeypatch.delenv("CRM_WAREHOUSE_URL")
    default = resolve_url()
    assert default.startswith("sqlite:///") and default.endswith(".db")
    assert Path(default.removeprefix("sqlite:///")).is_absolute()
    monkeypatch.chdir(tmp_path)
    assert resolve_url("sqlite:///var/wh.db") == f"sqlite:///{tmp_path / 'var' / 'wh.db'}"
    assert (tmp_path / "var").is_dir()


def test_a_relative_configured_path_is_the_projects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CRM_WAREHOUSE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_url() == f"sqlite:///{PROJECT_ROOT / 'var' / 'warehouse.db'}"


def test_a_read_only_uri_is_left_as_written_and_never_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true"
    assert resolve_url(url) == url
    assert sqlite_file(url) == tmp_path / "ro.db"
    assert list(tmp_path.iterdir()) == []


def test_redacted_hides_the_password() -> None:
    url = "postgresql+psycopg://crm:s3cr%40t@db.example:5432/warehouse"
    shown = redacted(url)
    assert shown == "postgresql+psycopg://crm:***@db.example:5432/warehouse"
    assert "s3cr" not in shown
    assert redacted("sqlite:////var/crm/warehouse.db") == "sqlite:////var/crm/warehouse.db"


def test_an_unparsable_url_is_not_shown() -> None:
    assert redacted("not a url: password=hunter2") == "<warehouse url not shown>"


def test_password_of() -> None:
    assert password_of("postgresql+psycopg://crm:s3cr%40t@db.example/warehouse") == "s3cr@t"
    assert password_of("postgresql+psycopg://crm@db.example/warehouse") is None
    assert password_of("sqlite:///var/wh.db") is None
    assert password_of("not a url: password=hunter2") is None


def test_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_file(f"sqlite:///{tmp_path / 'wh.db'}") == tmp_path / "wh.db"
    assert sqlite_file("sqlite:///var/wh.db") == Path.cwd() / "var" / "wh.db"
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql+psycopg://crm@db.example/warehouse") is None
