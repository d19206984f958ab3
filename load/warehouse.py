"""`Warehouse`: the one object the runner, the CLI and the tests use to reach the warehouse.

The same code serves SQLite (embedded default) and PostgreSQL (production). The schema
is created and changed only by the Alembic migrations shipped in `load/migrations`. The
work is done by the modules the methods name (see docs/warehouse.md, "Modules"); this
class holds the engine and the chunk size they share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from common.batch import ProvinceBatch
from common.errors import PipelineError, one_line
from load import control
from load.batch_writer import DEFAULT_CHUNK_ROWS, write_batch
from load.batches import BatchKey, BatchResult, latest_status, published_batch, published_inputs
from load.bulk import ChunkHook
from load.engine import make_engine
from load.urls import redacted, resolve_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Warehouse:
    """The CRM warehouse at `url` (see `resolve_url` for the default)."""

    def __init__(self, url: str | None = None, *, chunk_rows: int | None = None) -> None:
        self.url = resolve_url(url)
        self.engine = make_engine(self.url)
        self.chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS

    def __repr__(self) -> str:
        return f"Warehouse({redacted(self.url)!r})"

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------

    def _alembic(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` by running the Alembic migrations; PipelineError,
        naming the warehouse (its password hidden), when it cannot be opened at all."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            raise PipelineError(
                f"cannot open the warehouse {redacted(self.url)}: {one_line(exc.orig or exc)}"
            ) from exc
        config = self._alembic()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several provinces' runs start at once against a new warehouse: one migrates,
                # the others wait for it (the lock ends with this transaction).
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7262901)")
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    def revision(self) -> str | None:
        """The schema's current Alembic revision (None: never upgraded)."""
        quiet = logging.getLogger("alembic.runtime.migration")
        level = quiet.level
        quiet.setLevel(logging.WARNING)  # a status query needs no "Context impl" lines
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        finally:
            quiet.setLevel(level)

    def head(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic()).get_current_head()

    # --- batches --------------------------------------------------------------------

    def is_published(self, business_date: date, province: str, mode: str) -> bool:
        with self.engine.connect() as conn:
            return published_batch(conn, BatchKey(business_date, province, mode)) is not None

    def published_inputs(self, business_date: date, province: str, mode: str) -> str | None:
        """The input identity of the published batch (see load.batches.published_inputs)."""
        with self.engine.connect() as conn:
            return published_inputs(conn, BatchKey(business_date, province, mode))

    def batch_status(self, business_date: date, province: str, mode: str) -> str | None:
        """Status of the latest batch of (date, province, mode); None if there is none."""
        return latest_status(self.engine, BatchKey(business_date, province, mode))

    def write_batch(
        self,
        batch: ProvinceBatch,
        *,
        force: bool = False,
        run_id: int | None = None,
        step_id: int | None = None,
        on_chunk: ChunkHook | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> BatchResult:
        """Stage `batch` in checkpointed chunks, then publish it in one transaction (see
        load.batch_writer.write_batch)."""
        return write_batch(
            self.engine,
            batch,
            chunk_rows=self.chunk_rows,
            force=force,
            run_id=run_id,
            step_id=step_id,
            on_chunk=on_chunk,
            before_publish=before_publish,
        )

    # --- control data (job repository) -----------------------------------------------

    def start_run(self, business_date: date, province: str, mode: str) -> int:
        return control.start_run(self.engine, business_date, province, mode)

    def finish_run(self, run_id: int, state: str) -> None:
        control.finish_run(self.engine, run_id, state)

    def record_warnings(self, run_id: int, warnings: list[str]) -> None:
        control.record_warnings(self.engine, run_id, warnings)

    def start_step(self, run_id: int, name: str) -> int:
        return control.start_step(self.engine, run_id, name)

    def finish_step(self, step_id: int, counts: dict[str, int]) -> None:
        control.finish_step(self.engine, step_id, counts)

    def fail_step(self, step_id: int, error: str) -> None:
        control.fail_step(self.engine, step_id, error)
