"""`Warehouse`: the one object the runner, the CLI and the tests use to reach the warehouse.

The same code serves SQLite (embedded default) and PostgreSQL (production). The schema
is created and changed only by the Alembic migrations shipped in `load/migrations`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Table, create_engine, event, select
from sqlalchemy.engine import URL, make_url

from common.batch import ProvinceBatch
from load import accounts as account_tables
from load import control, prepare, publish
from load.bulk import ChunkHook, Stager
from load.control import Checkpoint, StepRecord
from load.publish import BatchKey
from load.tables import (
    ABANDONED,
    crm_account,
    crm_contact,
    crm_customer_source,
    crm_load_batch,
    stg_account,
    stg_contact,
    stg_customer,
    stg_customer_source,
    stg_reject,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Rows per committed chunk when staging, unless the caller or the configuration says.
DEFAULT_CHUNK_ROWS = 200_000


def prefetched(read: Callable[[int], T], parts: int) -> Iterator[tuple[int, T]]:
    """(i, read(i)) for each part in order, read(i + 1) running in a thread meanwhile.

    The caller stages part i (COPY: PostgreSQL's core) while the next part is read from
    Parquet and shaped (Arrow releases the GIL: the other core). At most two parts are in
    memory. `read` must depend on nothing the caller changes while staging part i (the
    stagers' `needs(i + 1)` does not: staging part i never completes part i + 1).
    """
    if parts <= 1:
        for part in range(parts):
            yield part, read(part)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-prefetch") as pool:
        ahead: Future[T] = pool.submit(read, 0)
        for part in range(parts):
            current = ahead.result()
            if part + 1 < parts:
                ahead = pool.submit(read, part + 1)
            try:
                yield part, current
            except BaseException:
                ahead.cancel()
                raise
            del current


def side_by_side(
    tasks: Sequence[Callable[[threading.Event], None]],
    *,
    parallel: bool,
    stop: threading.Event | None = None,
) -> None:
    """Run `tasks`, each in a thread of its own if `parallel`, else one after the other.

    Each task is handed a stop event, set as soon as another has failed (or by the caller,
    who may pass it), that it checks between units of work (a staged part), so that a
    failure is reported without waiting for the other streams to finish; the first error
    is raised once every task returned.
    """
    stop = stop or threading.Event()
    if not parallel or len(tasks) <= 1:
        for task in tasks:
            task(stop)
        return

    def guarded(task: Callable[[threading.Event], None]) -> None:
        try:
            task(stop)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="load-stream") as pool:
        running = [pool.submit(guarded, task) for task in tasks]
    for done in running:
        done.result()


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL: the argument, else CRM_WAREHOUSE_URL, else config/pipeline.yaml.

    A relative SQLite path is taken relative to the project root (not the working
    directory, so the CLI finds the same file from anywhere) and its folder is created.
    """
    if not url:
        url = os.environ.get("CRM_WAREHOUSE_URL")
    if not url:
        from common.config import settings

        url = settings().warehouse_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from common.paths import project_path

        path = project_path(parsed.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
        return parsed.render_as_string(hide_password=False)
    return url


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


@dataclass(frozen=True)
class BatchResult:
    """What `write_batch` did.

    status: `published` (this call published the batch) or `unchanged` (the date was
    already published and `force` was not given: nothing was written).
    """

    batch_id: int
    status: str
    resumed: bool = False
    customers: int = 0  # CRM customers written (qualified + already known)
    qualified: int = 0
    new_ids: int = 0
    sources: int = 0
    contacts: int = 0
    accounts: int = 0
    rejects: int = 0
    files: int = 0
    chunks_written: int = 0
    chunks_skipped: int = 0  # committed by an earlier, interrupted attempt

    @property
    def published(self) -> bool:
        return self.status == "published"


class Warehouse:
    """The CRM warehouse at `url` (see `resolve_url` for the default)."""

    def __init__(self, url: str | None = None, *, chunk_rows: int | None = None) -> None:
        self.url = resolve_url(url)
        self.engine = make_engine(self.url)
        self.chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS

    def __repr__(self) -> str:
        return f"Warehouse({make_url(self.url).render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema ---------------------------------------------------------------------

    def _alembic(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to `revision` by running the Alembic migrations."""
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
            key = BatchKey(business_date, province, mode)
            return publish.published_batch(conn, key) is not None

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
        """Stage `batch` in checkpointed chunks, then publish it in one transaction.

        A second write of a published (date, province, mode) changes nothing unless
        `force`. A write interrupted before publication is resumed by the next call with
        the same content: committed chunks are not written again. `before_publish` is
        called once everything is staged; if it raises, nothing is published (the runner
        waits there for the state snapshot written meanwhile: a published batch always
        has its snapshot).
        """
        key = BatchKey(batch.business_date, batch.province, batch.mode)
        if not force:
            with self.engine.connect() as conn:
                existing = publish.published_batch(conn, key)
            if existing is not None:
                log.info("%s already published as batch %s: unchanged", key, existing)
                return BatchResult(batch_id=existing, status="unchanged")
        parts = prepare.part_count(batch.customers)
        for table in (batch.links, batch.source_customers, batch.accounts):
            if prepare.part_count(table) != parts:
                raise ValueError(
                    f"{key}: the batch's tables come in {parts} and"
                    f" {prepare.part_count(table)} parts; they must be cut alike"
                )
        batch_id, resumed = publish.open_batch(self.engine, key, prepare.fingerprint(batch), run_id)
        stagers: list[Stager] = []

        def stager(target: Table, stream: str | None = None) -> Stager:
            made = Stager(
                self.engine,
                target,
                batch_id=batch_id,
                chunk_rows=self.chunk_rows,
                step_id=step_id,
                on_chunk=on_chunk,
                stream=stream,
            )
            stagers.append(made)
            return made

        # Customers, part by part: only the qualified ones on a province's first load (no
        # other can be a CRM customer then), every one otherwise (see publish.customer_scope).
        qualified_only = publish.customer_scope(self.engine, batch_id, batch.province, step_id)
        customers = stager(
            account_tables.customer_staging(self.engine, batch_id, qualified_only=qualified_only),
            stream=stg_customer.name,
        )
        part_keys: list[pa.Array] = []

        def customer_rows(part: int) -> tuple[pa.Table, bool]:
            if customers.needs(part):
                table = prepare.read_part(batch.customers, part, prepare.CUSTOMER_COLUMNS)
                return prepare.customers(table, qualified_only=qualified_only), True
            # Committed by an earlier attempt: only its keys are needed.
            table = prepare.read_part(batch.customers, part, ["cust_key", "qualified"])
            return prepare.customer_keys(table, qualified_only=qualified_only), False

        for part, (rows, stage) in prefetched(customer_rows, parts):
            if stage:
                customers.put(part, rows)
            part_keys.append(rows.column("cust_key").combine_chunks())
            del rows
        new_ids, registered = publish.assign_ids(
            self.engine,
            batch_id,
            batch.province,
            step_id,
            staged_keys=pa.chunked_array(part_keys, pa.string()),
        )
        keys, ids = registered or publish.crm_ids(self.engine, batch_id, batch.province)
        crm = prepare.ids_by_part(part_keys, keys, ids)
        del part_keys, keys, ids

        # Then, part by part, the CRM customers' source records, contacts and accounts. A
        # province's first rows of each go to a table of the batch's own, attached as the
        # province's partition at publication (PostgreSQL; see load.accounts).
        own = {
            target.name: account_tables.staging_table(self.engine, batch_id, batch.province, target)
            for target in (crm_customer_source, crm_contact, crm_account)
        }
        attach = [name for name, table in own.items() if account_tables.is_batch_table(table)]
        sources = stager(own[crm_customer_source.name], stream=stg_customer_source.name)
        contacts = stager(own[crm_contact.name], stream=stg_contact.name)
        accounts = stager(own[crm_account.name], stream=stg_account.name)

        def with_province(rows: pa.Table, target: Table) -> pa.Table:
            if target.name not in attach:
                return rows
            return rows.append_column(
                "province", pa.array([batch.province] * rows.num_rows, pa.string())
            )

        def link_rows(part: int) -> tuple[pa.Table | None, pa.Table | None]:
            """Part `part`'s source records and contacts still to stage (None: none)."""
            if not (sources.needs(part) or contacts.needs(part)):
                return None, None
            links = prepare.links(
                prepare.read_part(batch.links, part, prepare.LINK_COLUMNS), *crm[part]
            )
            contact_rows = None
            if contacts.needs(part):
                table = prepare.read_part(batch.source_customers, part, prepare.CONTACT_COLUMNS)
                contact_rows = with_province(prepare.contacts(table, links), crm_contact)
            return with_province(links, crm_customer_source), contact_rows

        def account_rows(part: int) -> pa.Table | None:
            """Part `part`'s accounts still to stage (None: none)."""
            if not accounts.needs(part):
                return None
            table = prepare.read_part(batch.accounts, part, prepare.ACCOUNT_COLUMNS)
            return with_province(prepare.accounts(table, *crm[part]), crm_account)

        def stage_links(stop: threading.Event) -> None:
            for part, (links, contact_rows) in prefetched(link_rows, parts):
                if stop.is_set():
                    return
                if links is not None:
                    sources.put(part, links)
                if contact_rows is not None:
                    contacts.put(part, contact_rows)
                del links, contact_rows

        def stage_accounts(stop: threading.Event) -> None:
            for part, rows in prefetched(account_rows, parts):
                if stop.is_set():
                    return
                if rows is not None:
                    accounts.put(part, rows)
                del rows

        def then_keys(
            stage: Callable[[threading.Event], None], *targets: Table
        ) -> Callable[[threading.Event], None]:
            """`stage`, then the keys of those of `targets` that are batch tables, built
            side by side (load.accounts.prepare_attach, one connection each)."""

            def run(stop: threading.Event) -> None:
                stage(stop)
                side_by_side(
                    [
                        partial(build_key, target)
                        for target in targets
                        if target.name in attach and not stop.is_set()
                    ],
                    parallel=True,
                )

            return run

        def build_key(target: Table, _stop: threading.Event) -> None:
            account_tables.prepare_attach(self.engine, batch_id, batch.province, target)

        rejects = stager(stg_reject)

        def stage_rest(stop: threading.Event) -> None:
            """Everything the publication needs staged after the customers: accounts on one
            connection, source records and contacts on another (PostgreSQL), each table's
            keys built as soon as its rows are in (one COPY after the other left a core
            idle a quarter of the time, and the key builds waited for all three); then
            the rejects, and what `before_publish` waits for."""
            side_by_side(
                [
                    then_keys(stage_accounts, crm_account),
                    then_keys(stage_links, crm_customer_source, crm_contact),
                ],
                parallel=concurrent,
                stop=stop,
            )
            crm.clear()  # the parts' keys and ids are no longer needed
            if stop.is_set():
                return
            rejects.put(0, prepare.rejects(batch))
            self._refresh_statistics(stg_customer_source.name, stg_contact.name)
            if before_publish is not None:
                before_publish()

        # The statistics the publication's customer statements are planned on.
        self._refresh_statistics(customers.target.name, "crm_customer")
        # PostgreSQL: the publication begins meanwhile and writes the CRM customers (4 s of
        # one core at 10M accounts) while the rest is staged; it waits for the staging
        # before it goes on (`publish`'s `staged_rest`), and nothing is visible before it
        # commits. SQLite has one writer at a time: there the rest is staged first.
        concurrent = self.engine.dialect.name == "postgresql"
        stop = threading.Event()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-staging") as pool:
                if concurrent:
                    staging = pool.submit(stage_rest, stop)
                else:
                    stage_rest(stop)
                try:
                    counts = publish.publish(
                        self.engine,
                        batch,
                        batch_id,
                        force=force,
                        staged=own,
                        staged_rest=staging.result if concurrent else None,
                    )
                finally:
                    # A publication that ended without waiting for the staging (an error,
                    # another batch published first) stops it at its next part.
                    stop.set()
        except publish.ScopeChanged as changed:
            # Staged as a first load, but the province was published meanwhile: write it
            # again as a later load (a new batch; this one is abandoned).
            log.warning("%s; batch %s abandoned, writing the batch again", changed, batch_id)
            with self.engine.begin() as conn:
                conn.execute(
                    crm_load_batch.update()
                    .where(crm_load_batch.c.batch_id == batch_id)
                    .values(status=ABANDONED)
                )
            publish.drop_staging(self.engine, batch_id)
            return self.write_batch(
                batch,
                force=force,
                run_id=run_id,
                step_id=step_id,
                on_chunk=on_chunk,
                before_publish=before_publish,
            )
        written = sum(made.written for made in stagers)
        skipped = sum(made.skipped for made in stagers)
        publish.drop_staging(self.engine, batch_id)
        if counts is None:
            # Lost a race with another writer of the same (date, province, mode).
            with self.engine.begin() as conn:
                conn.execute(
                    crm_load_batch.update()
                    .where(crm_load_batch.c.batch_id == batch_id)
                    .values(status=ABANDONED)
                )
                existing = publish.published_batch(conn, key)
            return BatchResult(batch_id=existing or batch_id, status="unchanged")
        log.info("%s published as batch %s: %s", key, batch_id, counts)
        return BatchResult(
            batch_id=batch_id,
            status="published",
            resumed=resumed,
            customers=counts["customers"],
            qualified=counts["qualified"],
            new_ids=new_ids,
            sources=sources.staged().rows,
            contacts=contacts.staged().rows,
            accounts=accounts.staged().rows,
            rejects=rejects.staged().rows,
            files=len(batch.files),
            chunks_written=written,
            chunks_skipped=skipped,
        )

    def _refresh_statistics(self, *tables: str) -> None:
        """Fresh planner statistics before publication (PostgreSQL).

        The publishing statements join the just-filled staging tables to the CRM tables;
        planned on the statistics of empty tables (a new warehouse, a first load), one of
        them was seen running for minutes instead of seconds at 10 million accounts.
        """
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")

    # --- control data (job repository) -----------------------------------------------

    def start_run(self, business_date: date, province: str, mode: str) -> int:
        return control.start_run(self.engine, business_date, province, mode)

    def finish_run(self, run_id: int, state: str) -> None:
        control.finish_run(self.engine, run_id, state)

    def start_step(self, run_id: int, name: str) -> int:
        return control.start_step(self.engine, run_id, name)

    def finish_step(self, step_id: int, counts: dict[str, int]) -> None:
        control.finish_step(self.engine, step_id, counts)

    def fail_step(self, step_id: int, error: str) -> None:
        control.fail_step(self.engine, step_id, error)

    def checkpoint(self, step_id: int, chunk: int, position: str, stream: str = "") -> None:
        """Record that `step_id` committed `chunk`, up to `position` (opaque to us).

        Call it only once the chunk's output is durable (its Parquet file closed, its
        rows committed), so the checkpoint never claims more than was done.
        """
        with self.engine.begin() as conn:
            control.record_checkpoint(
                conn, step_id=step_id, batch_id=None, stream=stream, chunk=chunk, position=position
            )

    def last_checkpoint(
        self, business_date: date, province: str, mode: str, step: str, stream: str = ""
    ) -> Checkpoint | None:
        """Where an unfinished `step` of (date, province, mode) got to, over earlier runs."""
        return control.last_checkpoint(self.engine, business_date, province, mode, step, stream)

    def completed_step(
        self, business_date: date, province: str, mode: str, step: str
    ) -> StepRecord | None:
        """The last completed execution of `step` for (date, province, mode), if any."""
        return control.completed_step(self.engine, business_date, province, mode, step)

    def batch_status(self, business_date: date, province: str, mode: str) -> str | None:
        """Status of the latest batch of (date, province, mode); None if there is none."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(crm_load_batch.c.status)
                .where(*BatchKey(business_date, province, mode).where())  # type: ignore[arg-type]
                .order_by(crm_load_batch.c.batch_id.desc())
                .limit(1)
            ).scalar()
