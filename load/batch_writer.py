"""Writing one batch: stage it in checkpointed chunks, register its ids, publish it.

`write_batch` is what `Warehouse.write_batch` does; a `BatchWriter` is one attempt, whose
`write` reads top-down: (1) a published (date, province, mode) is left unchanged unless
`force`; (2) the batch is opened or resumed (load.batches); (3) its customers are staged
part by part (load.customer_scope) and their ids registered (load.registration); (4) its
source records, contacts and accounts (into tables of its own on a province's first load,
load.batch_tables), then its rejects, are staged, accounts on one connection and the rest
on another, each table's keys built once its rows are in; (5) the publication
(load.publish) runs meanwhile on PostgreSQL: it writes the CRM customers while (4) goes
on, then waits for it; SQLite (one writer at a time) stages everything first.

The first-load path on PostgreSQL is tuned (docs/performance.md): the threads and the
order of the steps are what makes it fast; change them with the benchmark at hand.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pyarrow as pa
from sqlalchemy import Engine, Table

from common.batch import ProvinceBatch
from load import batch_tables, prepare
from load.batches import (
    BatchKey,
    BatchResult,
    abandon,
    drop_staging,
    open_batch,
    published_batch,
)
from load.bulk import ChunkHook, Stager
from load.concurrency import prefetched, side_by_side
from load.customer_scope import (
    BasisChanged,
    ScopeChanged,
    customer_scope,
    fresh_customers,
    row_scope,
)
from load.part_rows import PartRows
from load.publish import PUBLISHED_TABLES, publish, refresh_statistics
from load.registration import assign_ids, crm_ids
from load.tables import (
    crm_account,
    crm_contact,
    crm_customer_source,
    stg_account,
    stg_contact,
    stg_customer,
    stg_customer_source,
    stg_reject,
)

log = logging.getLogger(__name__)

# Rows per committed chunk when staging, unless the caller or the configuration says.
DEFAULT_CHUNK_ROWS = 200_000


def write_batch(
    engine: Engine,
    batch: ProvinceBatch,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
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
    has its snapshot). A batch staged as a first load whose province was published
    meanwhile is abandoned and written again as a later load (`ScopeChanged`).
    """
    by_changes = True
    while True:
        writer = BatchWriter(
            engine,
            batch,
            chunk_rows=chunk_rows,
            force=force,
            run_id=run_id,
            step_id=step_id,
            on_chunk=on_chunk,
            before_publish=before_publish,
            by_changes=by_changes,
        )
        try:
            return writer.write()
        except BasisChanged:
            by_changes = False  # written again whole (load.customer_scope.row_scope)
        except ScopeChanged:
            continue


class BatchWriter:
    """One attempt at writing a batch (see the module's docstring for its steps)."""

    def __init__(
        self,
        engine: Engine,
        batch: ProvinceBatch,
        *,
        chunk_rows: int,
        force: bool,
        run_id: int | None,
        step_id: int | None,
        on_chunk: ChunkHook | None,
        before_publish: Callable[[], None] | None,
        by_changes: bool = True,
    ) -> None:
        self.engine, self.batch, self.chunk_rows, self.force = engine, batch, chunk_rows, force
        self.run_id, self.step_id = run_id, step_id
        self.on_chunk, self.before_publish = on_chunk, before_publish
        self.by_changes = by_changes
        self.key = BatchKey(batch.business_date, batch.province, batch.mode)
        # PostgreSQL: the publication begins while the rest is staged, and the accounts
        # are staged beside the source records and contacts. SQLite: one writer at a time.
        self.concurrent = engine.dialect.name == "postgresql"
        self.batch_id, self.resumed = 0, False
        self.stagers: list[Stager] = []
        # Per part: the cust_keys of the part's CRM customers and their numbers.
        self.crm: list[tuple[pa.Array, pa.Array]] = []

    def write(self) -> BatchResult:
        """Write the batch; raises `ScopeChanged` once it is abandoned for another try."""
        if not self.force:
            existing = self._published()
            if existing is not None:
                log.info("%s already published as batch %s: unchanged", self.key, existing)
                return BatchResult(batch_id=existing, status="unchanged")
        parts = self._part_count()
        self.batch_id, self.resumed = open_batch(
            self.engine, self.key, prepare.fingerprint(self.batch), self.run_id, self.batch.inputs
        )
        new_ids = self._stage_customers(parts)
        self._open_rest()
        self._choose_rows()
        try:
            counts = self._publish_beside_staging(parts)
        except ScopeChanged as changed:
            log.warning("%s; batch %s abandoned, writing the batch again", changed, self.batch_id)
            with self.engine.begin() as conn:
                abandon(conn, self.batch_id)
            drop_staging(self.engine, self.batch_id)
            raise
        written = sum(made.written for made in self.stagers)
        skipped = sum(made.skipped for made in self.stagers)
        drop_staging(self.engine, self.batch_id)
        if counts is not None and self.batch.mode == "initial":
            refresh_statistics(self.engine, *PUBLISHED_TABLES)  # see PUBLISHED_TABLES
        if counts is None:
            # Lost a race with another writer of the same (date, province, mode).
            with self.engine.begin() as conn:
                abandon(conn, self.batch_id)
                existing = published_batch(conn, self.key)
            return BatchResult(batch_id=existing or self.batch_id, status="unchanged")
        log.info("%s published as batch %s: %s", self.key, self.batch_id, counts)
        return BatchResult(
            batch_id=self.batch_id,
            status="published",
            resumed=self.resumed,
            customers=counts["customers"],
            qualified=counts["qualified"],
            new_ids=new_ids,
            sources=self.sources.staged().rows,
            contacts=self.contacts.staged().rows,
            accounts=self.accounts.staged().rows,
            rejects=self.rejects.staged().rows,
            files=len(self.batch.files),
            chunks_written=written,
            chunks_skipped=skipped,
        )

    # --- 1, 2: before anything is staged -------------------------------------------

    def _published(self) -> int | None:
        with self.engine.connect() as conn:
            return published_batch(conn, self.key)

    def _part_count(self) -> int:
        """The parts the batch's tables come in (they must be cut alike)."""
        batch = self.batch
        parts = prepare.part_count(batch.customers)
        for table in (batch.links, batch.source_customers, batch.accounts):
            if prepare.part_count(table) != parts:
                raise ValueError(
                    f"{self.key}: the batch's tables come in {parts} and"
                    f" {prepare.part_count(table)} parts; they must be cut alike"
                )
        return parts

    def _stager(self, target: Table, stream: str | None = None) -> Stager:
        made = Stager(
            self.engine,
            target,
            batch_id=self.batch_id,
            chunk_rows=self.chunk_rows,
            step_id=self.step_id,
            on_chunk=self.on_chunk,
            stream=stream,
        )
        self.stagers.append(made)
        return made

    # --- 3: the customers and their ids ----------------------------------------------

    def _stage_customers(self, parts: int) -> int:
        """Stage the customers part by part, register their ids; returns the new ids.

        Only the qualified ones on a province's first load (no other can be a CRM
        customer then), every one otherwise (see load.customer_scope)."""
        self.qualified_only = customer_scope(
            self.engine, self.batch_id, self.batch.province, self.step_id
        )
        self.customers = self._stager(
            batch_tables.customer_staging(
                self.engine, self.batch_id, qualified_only=self.qualified_only
            ),
            stream=stg_customer.name,
        )
        part_keys: list[pa.Array] = []
        for part, (rows, stage) in prefetched(self._customer_rows, parts):
            if stage:
                self.customers.put(part, rows)
            part_keys.append(rows.column("cust_key").combine_chunks())
            del rows
        new_ids, registered = assign_ids(
            self.engine,
            self.batch_id,
            self.batch.province,
            self.step_id,
            staged_keys=pa.chunked_array(part_keys, pa.string()),
        )
        keys, ids = registered or crm_ids(self.engine, self.batch_id, self.batch.province)
        self.crm = prepare.ids_by_part(part_keys, keys, ids)
        return new_ids

    def _customer_rows(self, part: int) -> tuple[pa.Table, bool]:
        """Part `part`'s customers to stage (True), or only their keys (False: committed
        by an earlier attempt)."""
        customers, qualified_only = self.batch.customers, self.qualified_only
        if self.customers.needs(part):
            table = prepare.read_part(customers, part, prepare.CUSTOMER_COLUMNS)
            return prepare.customers(table, qualified_only=qualified_only), True
        table = prepare.read_part(customers, part, ["cust_key", "qualified"])
        return prepare.customer_keys(table, qualified_only=qualified_only), False

    # --- 4: the rest, staged beside the publication ------------------------------------

    def _open_rest(self) -> None:
        """The stagers of the CRM customers' source records, contacts and accounts, and of
        the rejects. A province's first rows of each of the three go to a table of the
        batch's own, attached as the province's partition at publication (PostgreSQL; see
        load.batch_tables)."""
        self.own = {
            target.name: batch_tables.staging_table(
                self.engine, self.batch_id, self.batch.province, target
            )
            for target in (crm_customer_source, crm_contact, crm_account)
        }
        self.attach = [
            name for name, table in self.own.items() if batch_tables.is_batch_table(table)
        ]
        self.sources = self._stager(self.own[crm_customer_source.name], stg_customer_source.name)
        self.contacts = self._stager(self.own[crm_contact.name], stg_contact.name)
        self.accounts = self._stager(self.own[crm_account.name], stg_account.name)
        self.rejects = self._stager(stg_reject)

    def _choose_rows(self) -> None:
        """Stage the source records, contacts and accounts by their changes when the batch
        can be published by them (load.customer_scope.row_scope); never into a batch's own
        tables (a province's first rows of a table are all of them)."""
        allowed = self.by_changes and not self.attach
        changes_only = row_scope(
            self.engine, self.batch, self.batch_id, self.step_id, allowed=allowed
        )
        self.rows = PartRows(self.batch, self.crm, self.attach, changes_only)
        if changes_only:
            self.rows.fresh = fresh_customers(self.engine, self.batch_id)

    def _link_rows(self, part: int) -> tuple[pa.Table | None, pa.Table | None]:
        """Part `part`'s source records and contacts still to stage (None: none)."""
        return self.rows.links(part, self.sources.needs(part), self.contacts.needs(part))

    def _account_rows(self, part: int) -> pa.Table | None:
        """Part `part`'s accounts still to stage (None: none)."""
        return self.rows.accounts(part, self.accounts.needs(part))

    def _stage_links(self, parts: int, stop: threading.Event) -> None:
        for part, (links, contact_rows) in prefetched(self._link_rows, parts):
            if stop.is_set():
                return
            if links is not None:
                self.sources.put(part, links)
            if contact_rows is not None:
                self.contacts.put(part, contact_rows)
            del links, contact_rows

    def _stage_accounts(self, parts: int, stop: threading.Event) -> None:
        for part, rows in prefetched(self._account_rows, parts):
            if stop.is_set():
                return
            if rows is not None:
                self.accounts.put(part, rows)
            del rows

    def _then_keys(
        self,
        stage: Callable[[threading.Event], None],
        targets: tuple[Table, ...],
        stop: threading.Event,
    ) -> None:
        """`stage`, then the keys of those of `targets` that are batch tables, built side
        by side (load.batch_tables.prepare_attach, one connection each)."""
        stage(stop)
        side_by_side(
            [
                partial(self._build_key, target)
                for target in targets
                if target.name in self.attach and not stop.is_set()
            ],
            parallel=True,
        )

    def _build_key(self, target: Table, _stop: threading.Event) -> None:
        batch_tables.prepare_attach(self.engine, self.batch_id, self.batch.province, target)

    def _stage_rest(self, parts: int, stop: threading.Event) -> None:
        """Everything the publication needs staged after the customers: accounts on one
        connection, source records and contacts on another (PostgreSQL), each table's
        keys built as soon as its rows are in (one COPY after the other left a core
        idle a quarter of the time, and the key builds waited for all three); then
        the rejects, and what `before_publish` waits for."""
        side_by_side(
            [
                partial(self._then_keys, partial(self._stage_accounts, parts), (crm_account,)),
                partial(
                    self._then_keys,
                    partial(self._stage_links, parts),
                    (crm_customer_source, crm_contact),
                ),
            ],
            parallel=self.concurrent,
            stop=stop,
        )
        self.crm.clear()  # the parts' keys and ids are no longer needed
        if stop.is_set():
            return
        self.rejects.put(0, prepare.rejects(self.batch))
        refresh_statistics(self.engine, stg_customer_source.name, stg_contact.name)
        if self.before_publish is not None:
            self.before_publish()

    # --- 5: the publication --------------------------------------------------------------

    def _publish_beside_staging(self, parts: int) -> dict[str, int] | None:
        """Publish the batch (load.publish); on PostgreSQL the publication begins and
        writes the CRM customers (4 s of one core at 10M accounts) while the rest is
        staged, and waits for the staging before it goes on (`staged_rest`); nothing is
        visible before it commits. SQLite stages the rest first."""
        # The statistics the publication's customer statements are planned on (those of
        # crm_customer, taken after each initial load, serve a batch staged by its changes:
        # the day's 1 % does not move them, 0.16 s a night at 2 M customers).
        published = [] if self.rows.changes_only else ["crm_customer"]
        refresh_statistics(self.engine, self.customers.target.name, *published)
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-staging") as pool:
            if self.concurrent:
                staging = pool.submit(self._stage_rest, parts, stop)
            else:
                self._stage_rest(parts, stop)
            try:
                return publish(
                    self.engine,
                    self.batch,
                    self.batch_id,
                    force=self.force,
                    staged=self.own,
                    staged_rest=staging.result if self.concurrent else None,
                    held_accounts=self.rows.held_accounts,
                )
            finally:
                # A publication that ended without waiting for the staging (an error,
                # another batch published first) stops it at its next part.
                stop.set()
