"""The three warehouse-URL helpers the tasks need, until `load/urls.py` provides them.

SQLAlchemy belongs in `load/` only; another change adds `load/urls.py` with exactly these
functions. This module holds the current code meanwhile, so that at merge one import line
(`from load.urls import ...`) replaces it and nothing else in the tasks changes.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


def redacted(url: str) -> str:
    """The URL with its password replaced, fit for a task log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is not logged at all: it may hold a secret
        return "<warehouse url not shown>"


def password_of(url: str) -> str | None:
    """The URL's password, if it has one and parses (so it can be masked in logs)."""
    try:
        password = make_url(url).password
    except Exception:
        return None
    return str(password) if password else None


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other backends and for :memory:."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))
