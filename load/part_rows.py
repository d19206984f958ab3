"""The rows of one part of a batch's source records, contacts and accounts, as staged.

Only those of the batch's CRM customers, with their numbers (load.prepare); into a batch's
own table (a province's first rows of a CRM table, load.batch_tables) with the province
and without the marks; and, for a batch staged by its changes only
(load.customer_scope.row_scope), without the unchanged rows of customers already in the
CRM, counting the accounts it holds all the same (`held`, the batch's published count).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table

from common.batch import DELTA_REMOVED, ProvinceBatch
from load import prepare
from load.tables import crm_account, crm_contact, crm_customer_source


@dataclass
class PartRows:
    batch: ProvinceBatch
    crm: list[tuple[pa.Array, pa.Array]]  # per part: its CRM customers' keys and numbers
    attach: list[str]  # the CRM tables staged into tables of the batch's own
    changes_only: bool = False
    fresh: pa.Array = field(default_factory=lambda: pa.array([], pa.int64()))  # new to the CRM
    held: dict[int, int] = field(default_factory=dict)  # per part: accounts held (changes only)

    def links(
        self, part: int, sources: bool, contacts: bool
    ) -> tuple[pa.Table | None, pa.Table | None]:
        """Part `part`'s source records (if `sources`) and contacts (if `contacts`)."""
        if not (sources or contacts):
            return None, None
        batch = self.batch
        links = prepare.links(
            prepare.read_part(batch.links, part, prepare.LINK_COLUMNS), *self.crm[part]
        )
        contact_rows = None
        if contacts:
            table = prepare.read_part(batch.source_customers, part, prepare.CONTACT_COLUMNS)
            contact_rows = self._staged(prepare.contacts(table, links), crm_contact)
        return (self._staged(links, crm_customer_source) if sources else None), contact_rows

    def accounts(self, part: int, needed: bool) -> pa.Table | None:
        """Part `part`'s accounts if `needed`; staged by changes, its held accounts are
        counted whether they are staged now or were before."""
        if not (needed or self.changes_only):
            return None
        table = prepare.read_part(self.batch.accounts, part, prepare.ACCOUNT_COLUMNS)
        rows = prepare.accounts(table, *self.crm[part])
        if self.changes_only:
            self.held[part] = prepare.live_rows(rows)
        return self._staged(rows, crm_account) if needed else None

    def held_accounts(self) -> int | None:
        """The accounts the batch holds when they are not all staged (None: count them)."""
        return sum(self.held.values()) if self.changes_only else None

    def _staged(self, rows: pa.Table, target: Table) -> pa.Table:
        if self.changes_only:
            rows = prepare.changes(rows, self.fresh)
        if target.name not in self.attach:
            return rows
        # A batch table has the CRM table's columns: the province's included, no `delta`
        # (the province has no row of `target` yet: nothing to remove, everything new).
        if "delta" in rows.column_names:
            rows = rows.filter(pc.not_equal(rows.column("delta"), DELTA_REMOVED))
            rows = rows.drop_columns(["delta"])
        province = pa.array([self.batch.province] * rows.num_rows, pa.string())
        return rows.append_column("province", province)
