"""Warehouse URLs: which one to use, and what of it may be shown or used outside `load/`.

SQLAlchemy parses the URLs here so that the layers above (the orchestration, the DAGs)
never import it: they ask for the URL with its password hidden (logs), the password
alone (a secrets masker), or the database file of an SQLite URL (a lock beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from common.config import settings
from common.paths import project_path

HIDDEN = "<warehouse url not shown>"


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: the argument, else CRM_WAREHOUSE_URL, else config/pipeline.yaml.

    A relative SQLite path is taken relative to the project root (not the working
    directory, so the CLI finds the same file from anywhere) and its folder is created.
    """
    if not url:
        url = os.environ.get("CRM_WAREHOUSE_URL")
    if not url:
        url = settings().warehouse_url
    parsed = make_url(url)
    if _sqlite_database(parsed) is not None:
        path = project_path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
        return parsed.render_as_string(hide_password=False)
    return url


def redacted(url: str) -> str:
    """`url` with its password hidden, fit for a log; `HIDDEN` if it cannot be parsed (an
    unparsable URL is not shown at all: it may hold a secret)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return HIDDEN


def password_of(url: str) -> str | None:
    """The password in `url`, if it has one (None also when it cannot be parsed)."""
    try:
        password = make_url(url).password
    except Exception:
        return None
    return None if password is None else str(password)


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite `url` (a relative path taken from the project root,
    as `resolve_url` takes it); None for other backends and for an in-memory database."""
    database = _sqlite_database(make_url(url))
    return None if database is None else project_path(database)


def _sqlite_database(parsed: URL) -> str | None:
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database
