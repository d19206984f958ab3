"""The state of one branch's day being made: its change files, and what it has touched.

The change makers (:mod:`.customer_changes`, :mod:`.account_changes`, :mod:`.bad_lines`)
work on it; keys touched once are left alone for the rest of the day, so every line's
effect on the truth is known, and bad lines never hide a change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np

from crm_pipeline.sample.amounts import fen
from crm_pipeline.sample.branches import export_filter, filter_limit
from crm_pipeline.sample.daily.truth import Branch, Fields
from crm_pipeline.sample.fx import CNY_RATE
from crm_pipeline.sample.ids import id_check
from crm_pipeline.sample.naming import ACCOUNT_ENTITY, SYSTEMS, acct_no_format, cust_no_format
from crm_pipeline.sample.writer import assemble

CHANGE_ENTITY = {"CUST": "CUSTCHG", "ACCT": "ACCTCHG", "HOLD": "HOLDCHG"}
TXN_SYSTEMS = ("RTL", "CRD")
FILTER_MARGIN = Decimal("1.02")  # retail balances stay this far above the export filter


@dataclass
class FileLines:
    """The lines of one change file being built, and what the pipeline must do with them."""

    lines: list[bytes] = field(default_factory=list)
    applied: int = 0
    ignored: int = 0
    set_aside: list[str] = field(default_factory=list)  # reasons

    def add(self, line: bytes, kind: str) -> None:
        self.lines.append(line)
        if kind == "applied":
            self.applied += 1
        elif kind == "ignored":
            self.ignored += 1
        else:
            self.set_aside.append(kind)


class DayState:
    """One branch's change files for one day, being built, and the keys already touched."""

    def __init__(
        self,
        branch: Branch,
        day: date,
        rng: np.random.Generator,
        rates: dict[str, int],
        change_rate: float,
        day_index: int,
    ) -> None:
        self.b = branch
        self.day = day
        self.rng = rng
        self.rates = rates
        self.change_rate = change_rate
        self.day_index = day_index
        self.touched: dict[str, set[bytes]] = {s: set() for s in SYSTEMS}  # customers
        self.touched_accounts: dict[str, set[bytes]] = {s: set() for s in SYSTEMS}
        self.files = {
            (s, e): FileLines()
            for s in SYSTEMS
            for e in (CHANGE_ENTITY["CUST"], CHANGE_ENTITY[ACCOUNT_ENTITY[s]])
        }
        self.txn_lines: dict[str, list[bytes]] = {s: [] for s in TXN_SYSTEMS}
        self.txn_set_aside: dict[str, int] = {s: 0 for s in TXN_SYSTEMS}
        self.new_customers: list[tuple[str, str]] = []  # (system, cust_no) added today
        self.moved: list[tuple[str, str, str]] = []  # (system, cust_no, new id number)
        self.ids_in_use = {
            self.clean_id(f, s) for s in SYSTEMS for f in self.b.systems[s].customers.values()
        }

    # -- helpers -------------------------------------------------------------------------

    def clean_id(self, fields: Fields, system: str) -> bytes:
        return self.b.get(system, "CUST", fields, "id_no").upper()

    def line(self, system: str, entity: str, action: bytes, fields: Fields) -> bytes:
        return assemble([action, *fields], self.b.layout(system, CHANGE_ENTITY[entity]))

    def cust_file(self, system: str) -> FileLines:
        return self.files[(system, "CUSTCHG")]

    def acct_file(self, system: str) -> FileLines:
        return self.files[(system, CHANGE_ENTITY[ACCOUNT_ENTITY[system]])]

    def pick(self, pool: Sequence[bytes], busy: set[bytes], count: int) -> list[bytes]:
        free = [k for k in pool if k not in busy]
        if not free:
            return []
        chosen = self.rng.choice(len(free), size=min(count, len(free)), replace=False)
        picked = [free[int(i)] for i in chosen]
        busy.update(picked)
        return picked

    def balance(self, system: str, fields: Fields) -> int:
        """The account's balance in fen: its layout's control field (core-dumps.md section 8)."""
        layout = self.b.layout(system, ACCOUNT_ENTITY[system])
        assert layout.control is not None, f"{system} accounts have no control field"
        return fen(self.b.get(system, ACCOUNT_ENTITY[system], fields, layout.control))

    def min_retail_fen(self, currency: bytes) -> int:
        """The smallest retail balance kept clear of the export filter (core-dumps 8)."""
        rate = self.rates.get(currency.decode(), CNY_RATE)
        limit = Decimal(filter_limit(self.b.code))
        if currency == b"CNY":
            return int(export_filter(self.b.code)) * 100
        return int((limit * FILTER_MARGIN / rate).to_integral_value(rounding="ROUND_CEILING"))

    def new_cust_no(self, system: str) -> bytes:
        prefix, width = cust_no_format(system, self.b.code)
        number = 800_000 + self.day_index * 10_000 + self.b.next_number()
        return (prefix + str(number).rjust(width, "0")).encode("ascii")

    def new_acct_no(self, system: str) -> bytes:
        prefix, width = acct_no_format(system, self.b.code)
        number = 9 * 10 ** (width - 1) + self.day_index * 100_000 + self.b.next_number()
        return (prefix + str(number).rjust(width, "0")).encode("ascii")

    def new_identity(self) -> bytes:
        while True:
            birth = int(self.rng.integers(1960, 1996)) * 10000 + 101
            birth += int(self.rng.integers(0, 12)) * 100 + int(self.rng.integers(0, 28))
            body = f"330106{birth}{int(self.rng.integers(0, 1000)):03d}"
            number = (body + id_check(body)).encode("ascii")
            if number not in self.ids_in_use:
                self.ids_in_use.add(number)
                return number
