"""Alembic environment: runs the migrations on the connection `Warehouse.upgrade()` passes.

There is no alembic.ini: the warehouse is always upgraded through `load.warehouse`
(`crm-pipeline db upgrade` or `Warehouse.upgrade()`), which builds the configuration in code
so the migrations ship inside the installed package.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from load.batch_tables import include_name
from load.tables import metadata

config = context.config


def run_migrations_offline() -> None:
    """Emit SQL for a URL without connecting (`alembic upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        include_name=include_name,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds the table.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
