"""One branch's day, made: the order in which a day's changes are drawn.

The order is part of the output (one random stream per branch and day), so it stands
here once; tests pass their own ``make`` to :func:`~.days.write_day` to build one
precise situation instead.
"""

from __future__ import annotations

from crm_pipeline.sample.daily.account_changes import change_accounts
from crm_pipeline.sample.daily.bad_lines import bad_lines, bad_txn
from crm_pipeline.sample.daily.customer_changes import change_customers, move_identity
from crm_pipeline.sample.daily.state import TXN_SYSTEMS, DayState
from crm_pipeline.sample.naming import SYSTEMS


class DayMaker(DayState):
    """Builds one branch's change files for one day and applies them to the truth."""

    def move_identity(
        self, system: str, key: bytes | None = None, new_id: bytes | None = None
    ) -> tuple[bytes, bytes] | None:
        """See :func:`.customer_changes.move_identity` (tests set one record's number)."""
        return move_identity(self, system, key, new_id)

    def make(self) -> None:
        """Everything a day changes, in a fixed order."""
        for system in SYSTEMS:
            change_customers(self, system)
        self.move_identity("CRD" if self.day_index % 2 == 1 else "LON")
        for system in SYSTEMS:
            change_accounts(self, system)
        for system in SYSTEMS:
            bad_lines(self, system, "customer")
            bad_lines(self, system, "account")
        for system in TXN_SYSTEMS:
            bad_txn(self, system)
