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

    A relative SQLite path given by the operator (the argument, the environment) is taken
    from the working directory, like every other path they give; one in
    config/pipeline.yaml from the project root. The file's folder is created. An SQLite
    URI filename (`sqlite:///file:...?mode=ro&uri=true`) is left exactly as written:
    SQLite opens it, and a read-only one is never created.
    """
    configured = False
    if not url:
        url = os.environ.get("CRM_WAREHOUSE_URL")
    if not url:
        url, configured = settings().warehouse_url, True
    parsed = make_url(url)
    database = _sqlite_database(parsed)
    if database is None or is_sqlite_uri(url):
        return url
    path = project_path(database) if configured else Path(database).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def is_sqlite_uri(url: str) -> bool:
    """Whether `url` names its SQLite database as a URI filename (`file:...`, uri=true)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        str(parsed.query.get("uri", "")).lower() in ("true", "1")
        or (parsed.database or "").startswith("file:")
    )


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
    """The database file of an SQLite `url` as `resolve_url` resolves it; None for other
    backends and for an in-memory database."""
    resolved = make_url(resolve_url(url))
    database = _sqlite_database(resolved)
    if database is None:
        return None
    if database.startswith("file:"):
        database = database[len("file:") :]
    return Path(database)


def _sqlite_database(parsed: URL) -> str | None:
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database
