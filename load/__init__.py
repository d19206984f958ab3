"""load stage: the warehouse (SQLite or PostgreSQL), its migrations, batch publication.

Public API: `Warehouse`, `BatchResult`, `resolve_url`. See docs/warehouse.md.
"""

from load.warehouse import BatchResult, Warehouse, resolve_url

__all__ = ["BatchResult", "Warehouse", "resolve_url"]
