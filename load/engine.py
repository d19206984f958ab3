"""The warehouse's SQLAlchemy engine: SQLite made transactional and concurrent with a load,
PostgreSQL with a pool for the load's side-by-side connections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def _sqlite_setup(engine: Engine) -> None:
    """Make pysqlite transactional like a real database, and readers concurrent with a load.

    pysqlite's own transaction handling starts transactions late (not before SELECTs);
    SQLAlchemy's documented recipe hands control back to it. WAL lets the CRM read the
    previous state while a batch is being staged.

    Write transactions (`engine.begin()`, `conn.begin()`: every write of the pipeline)
    begin with `BEGIN IMMEDIATE`: they take SQLite's one write lock at once, waiting for
    it up to the busy timeout (60 s). A deferred `BEGIN` reads first and asks for the lock
    at its first write; if another connection (a second province loading into the same
    file) wrote in between, SQLite cannot let it wait (its snapshot is stale) and fails it
    at once with "database is locked". So provinces loading into one SQLite file take
    turns, transaction by transaction (chunks, id assignment, the publication).
    Transactions begun implicitly by a first statement (`engine.connect()`: the
    pipeline's reads) stay deferred, so reads are never blocked by a load (WAL), and a
    read connection held open while a write transaction is begun cannot lock itself out.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "before_execute")
    def _before_execute(conn: Any, *_: Any) -> None:
        if not conn.in_transaction():
            conn.info[_AUTOBEGIN] = True  # this statement will begin the transaction

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        implicit = conn.info.pop(_AUTOBEGIN, False)
        conn.exec_driver_sql("BEGIN" if implicit else "BEGIN IMMEDIATE")
        conn.info.pop(_AUTOBEGIN, None)  # set again by the BEGIN statement itself


# Set on a connection between a statement that begins a transaction implicitly (a read
# through `engine.connect()`) and that transaction's "begin" event.
_AUTOBEGIN = "crm_sqlite_autobegin"


def make_engine(url: str) -> Engine:
    parsed: URL = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 60})
        _sqlite_setup(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=8)
