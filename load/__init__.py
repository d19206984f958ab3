"""load stage: the warehouse (SQLite or PostgreSQL), its migrations, batch publication.

Public API: `Warehouse`, `BatchResult`, and the URL helpers `resolve_url`, `redacted`,
`password_of`, `sqlite_file` (so that no other layer parses a URL with SQLAlchemy). The
daily runs and statements use `load.business_dates`, `load.transactions` and
`load.statements`; `crm-pipeline status` uses `load.report`. See docs/warehouse.md.
"""

from load.batches import BatchResult
from load.urls import password_of, redacted, resolve_url, sqlite_file
from load.warehouse import Warehouse

__all__ = ["BatchResult", "Warehouse", "password_of", "redacted", "resolve_url", "sqlite_file"]
