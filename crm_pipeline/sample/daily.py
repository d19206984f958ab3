"""Synthetic daily change files after an initial sample, with the state they lead to.

`write_daily(landing, d0, days, seed=..., full_out=...)` reads the initial sample written by
`crm-pipeline sample` for D0 (its files and manifest: the records the pipeline keeps are
the good lines), then writes business dates D1..Dn (consecutive calendar days) next to it,
laid out as core-dumps.md section 1 says: per branch `{SYS}_CUSTCHG`, `{SYS}_ACCTCHG` /
`FND_HOLDCHG` and `RTL_TXN` / `CRD_TXN`, each with its `.ok`, plus `FXR_RATE` per day.

The generator keeps the *truth*: every system's customer and account records as the core
systems hold them after each day. It only changes it through lines the pipeline must
apply, so the state after Dn is known; `full_out` receives the full dumps (`CUST`, `ACCT`,
`HOLD`, `FXR_RATE`) as of Dn, for the equivalence test (initial at D0 + daily D1..Dn must
equal an initial load at Dn). Retail balances are kept clear of the export filter (2%
above it, and rate moves are only made where no account would cross it), so the two
paths see the same retail accounts.

Each day and branch gets, per system: contact updates (`U`), new customers (`A`) with
their accounts in the same day's files, a customer sent with `U` although unknown (an
add), a deleted customer (`D`, with `D` of its accounts), a `D` of an unknown customer
(ignored), an identification number corrected to another customer's (CRD/LON), balance
changes (some large, so customers enter and leave the qualified set), closed accounts,
new accounts, `U`/`D` of unknown accounts, an orphan account, and bad lines of every kind
the initial sample has (byte length or field count, undecodable bytes, bad dates, amounts,
whole numbers and codes, including an action code other than A/U/D, and a duplicate
key), built from records the day does not otherwise touch so that setting them aside
changes nothing. `TXN` lines record each retail or card balance change (credit or debit,
with the balance after), so a statement reconciles.

A manifest `{D}/daily_manifest.json` lists each file's records, set-aside lines, ignored
`D`s and applied changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from common.config import Layout, LayoutConfig, layouts
from crm_pipeline.sample import ids, records
from crm_pipeline.sample.generate import export_filter
from crm_pipeline.sample.inject import break_line, breakages
from crm_pipeline.sample.writer import (
    assemble,
    control_value,
    format_fen,
    line_end,
    write_data_file,
)

SYSTEMS = records.SYSTEMS
ACCOUNT_ENTITY = records.ACCOUNT_ENTITY
CHANGE_ENTITY = {"CUST": "CUSTCHG", "ACCT": "ACCTCHG", "HOLD": "HOLDCHG"}
TXN_SYSTEMS = ("RTL", "CRD")
CUST_PREFIX = {"RTL": "", "CRD": "C", "LON": "L", "FND": "F"}
BALANCE_FIELD = {"RTL": "balance", "CRD": "deposit_balance", "LON": "principal_balance",
                 "FND": "market_value"}  # fmt: skip
FILTER_MARGIN = Decimal("1.02")  # retail balances stay this far above the export filter
CHANNELS = (b"ATM", b"POS", b"MOB", b"CTR", b"NET")
MEMOS = ("工资", "转账", "消费", "利息", "还款", "取现")

Fields = list[bytes]


def _date(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def fen(value: bytes) -> int:
    """An amount field (``-12.34``) in fen (or 1/10000 for a scale-4 field), exactly."""
    text = value.decode("ascii").strip()
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * int(whole + frac)


def money(value: int) -> bytes:
    return format_fen(value).encode("ascii")


def rate_units(text: str) -> int:
    """A `cny_per_100` (``712.35``) in 1/10000, the unit of `records.fx_rates`."""
    return int(Decimal(text) * 10_000)


def parse_line(line: bytes, layout: Layout) -> Fields:
    """A dump line's field values (unpadded bytes, as `writer.assemble` takes them)."""
    body = line[: -len(line_end(layout))] if line.endswith(line_end(layout)) else line
    if layout.format == "delimited":
        encoding = "gb18030" if layout.encoding == "gb18030" else "utf-8"
        return [part.encode(encoding) for part in body.decode(encoding).split("|")]
    out, pos = [], 0
    for spec in layout.fields:
        value = body[pos : pos + (spec.width or 0)]
        pos += spec.width or 0
        out.append(value.rstrip(b" ") if spec.type == "text" else value.strip(b" "))
    return out


@dataclass
class SystemTruth:
    """One system's records at one branch: key -> field values of the full layout."""

    customers: dict[bytes, Fields] = field(default_factory=dict)
    accounts: dict[bytes, Fields] = field(default_factory=dict)


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


class Branch:
    """The truth of one branch and the day's change files being written for it."""

    def __init__(self, code: str, config: LayoutConfig) -> None:
        self.code = code
        self.config = config
        self.systems = {s: SystemTruth() for s in SYSTEMS}
        self.counter = 0

    # -- layouts and field access --------------------------------------------------------

    def layout(self, system: str, entity: str) -> Layout:
        return self.config.layout_for(system, entity)

    def idx(self, system: str, entity: str, name: str) -> int:
        return self.layout(system, entity).field_names.index(name)

    def get(self, system: str, entity: str, fields: Fields, name: str) -> bytes:
        return fields[self.idx(system, entity, name)]

    def put(self, system: str, entity: str, fields: Fields, name: str, value: bytes) -> Fields:
        out = list(fields)
        out[self.idx(system, entity, name)] = value
        return out

    def next_number(self) -> int:
        self.counter += 1
        return self.counter


def read_initial(landing: Path, d0: date) -> tuple[dict[str, Any], dict[str, Branch]]:
    """The initial sample's manifest, and per branch the records the pipeline kept."""
    day = _ymd(d0)
    manifest = json.loads((landing / day / "sample_manifest.json").read_text("utf-8"))
    config = layouts()
    branches = {b: Branch(b, config) for b in manifest["branches"]}
    for item in manifest["files"]:
        if item["layout"] == "FXR_RATE":
            continue
        system, entity = item["layout"].split("_")
        branch = branches[item["branch"]]
        layout = config.layout_for(system, entity)
        bad = {x["line"] for x in item["set_aside_lines"]}
        bad |= {x["line"] for x in item["filtered_accounts"]}
        data = (landing / item["file"]).read_bytes()
        end = line_end(layout)
        target = (
            branch.systems[system].customers
            if layout.role == "customer"
            else branch.systems[system].accounts
        )
        key = layout.field_names.index(layout.key[0])
        for number, line in enumerate(data.split(end)[:-1] if data else [], start=1):
            if number in bad:
                continue
            fields = parse_line(line + end, layout)
            target[fields[key]] = fields
    return manifest, branches


@dataclass
class DayFiles:
    """Everything one branch sends for one day."""

    files: dict[tuple[str, str], FileLines]  # (system, entity) -> lines
    txn: dict[str, list[bytes]]


class DayMaker:
    """Builds one branch's change files for one day and applies them to the truth."""

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
            self._clean_id(f, s) for s in SYSTEMS for f in self.b.systems[s].customers.values()
        }

    # -- helpers -------------------------------------------------------------------------

    def _clean_id(self, fields: Fields, system: str) -> bytes:
        return self.b.get(system, "CUST", fields, "id_no").upper()

    def _line(self, system: str, entity: str, action: bytes, fields: Fields) -> bytes:
        return assemble([action, *fields], self.b.layout(system, CHANGE_ENTITY[entity]))

    def _cust_file(self, system: str) -> FileLines:
        return self.files[(system, "CUSTCHG")]

    def _acct_file(self, system: str) -> FileLines:
        return self.files[(system, CHANGE_ENTITY[ACCOUNT_ENTITY[system]])]

    def _pick(self, pool: Sequence[bytes], busy: set[bytes], count: int) -> list[bytes]:
        free = [k for k in pool if k not in busy]
        if not free:
            return []
        chosen = self.rng.choice(len(free), size=min(count, len(free)), replace=False)
        picked = [free[int(i)] for i in chosen]
        busy.update(picked)
        return picked

    def min_retail_fen(self, currency: bytes) -> int:
        """The smallest retail balance kept clear of the export filter (core-dumps 8)."""
        rate = self.rates.get(currency.decode(), 1_000_000)
        limit = Decimal(export_filter(self.b.code)) * 10**8
        if currency == b"CNY":
            return int(export_filter(self.b.code)) * 100
        return int((limit * FILTER_MARGIN / rate).to_integral_value(rounding="ROUND_CEILING"))

    def new_cust_no(self, system: str) -> bytes:
        prefix = CUST_PREFIX[system] + self.b.code
        width = 16 - len(prefix) if system == "RTL" else 10
        number = 800_000 + self.day_index * 10_000 + self.b.next_number()
        return (prefix + str(number).rjust(width, "0")).encode("ascii")

    def new_acct_no(self, system: str) -> bytes:
        bn = records.branch_number(self.b.code)
        prefix, width = {"RTL": (f"62{bn}", 18), "CRD": (f"6225{bn}", 10),
                         "LON": (f"LN{bn}", 12), "FND": (f"FA{self.b.code}", 12)}[system]  # fmt: skip
        number = 9 * 10 ** (width - 1) + self.day_index * 100_000 + self.b.next_number()
        return (prefix + str(number).rjust(width, "0")).encode("ascii")

    def new_identity(self) -> bytes:
        while True:
            birth = int(self.rng.integers(1960, 1996)) * 10000 + 101
            birth += int(self.rng.integers(0, 12)) * 100 + int(self.rng.integers(0, 28))
            body = f"330106{birth}{int(self.rng.integers(0, 1000)):03d}"
            number = (body + ids.id_check(body)).encode("ascii")
            if number not in self.ids_in_use:
                self.ids_in_use.add(number)
                return number

    # -- transactions --------------------------------------------------------------------

    def txn(self, system: str, acct: Fields, delta: int, after: int) -> None:
        """TXN lines moving an account's balance by `delta` fen to `after`."""
        if system not in TXN_SYSTEMS or delta == 0:
            return
        entity = ACCOUNT_ENTITY[system]
        acct_no = acct[0]
        currency = self.b.get(system, entity, acct, "currency")
        parts = [delta]
        if abs(delta) > 200 and self.rng.random() < 0.3:  # a credit and a debit
            extra = int(self.rng.integers(1, abs(delta) // 2 + 1))
            parts = [delta + extra, -extra] if delta > 0 else [extra, delta - extra]
        balance = after - delta
        for amount in parts:
            balance += amount
            seq = len(self.txn_lines[system]) + 1
            txn_id = f"{system}{self.b.code}{_ymd(self.day)}{seq:07d}".encode("ascii")
            self.txn_lines[system].append(
                self._txn_line(txn_id, acct_no, amount, currency, balance)
            )

    def _txn_line(
        self, txn_id: bytes, acct_no: bytes, amount: int, currency: bytes, after: int
    ) -> bytes:
        layout = self.b.layout("RTL", "TXN")
        time = f"{int(self.rng.integers(0, 24)):02d}{int(self.rng.integers(0, 60)):02d}00"
        memo = MEMOS[int(self.rng.integers(0, len(MEMOS)))].encode("gb18030")
        fields = [
            txn_id,
            acct_no,
            _ymd(self.day).encode(),
            time.encode(),
            b"C" if amount > 0 else b"D",
            money(abs(amount)),
            currency,
            CHANNELS[int(self.rng.integers(0, len(CHANNELS)))],
            money(after),
            memo,
        ]
        return assemble(fields, layout)

    # -- customers -----------------------------------------------------------------------

    def customers(self, system: str) -> None:
        truth = self.b.systems[system]
        out = self._cust_file(system)
        busy = self.touched[system]
        pool = sorted(truth.customers)
        n = max(1, round(len(pool) * self.change_rate / 2))
        for key in self._pick(pool, busy, n):  # contact changes
            mobile = f"139{int(self.rng.integers(0, 10**8)):08d}".encode()
            fields = self.b.put(system, "CUST", truth.customers[key], "mobile", mobile)
            truth.customers[key] = fields
            out.add(self._line(system, "CUST", b"U", fields), "applied")
        if len(pool) < 4:
            return
        for key in self._pick(pool, busy, 1):  # a customer leaves: record and accounts
            fields = truth.customers.pop(key)
            out.add(self._line(system, "CUST", b"D", fields), "applied")
            for acct_no in sorted(a for a, f in truth.accounts.items() if f[1] == key):
                self.close_account(system, acct_no)
        template = truth.customers.get(pool[0])
        if template is None:
            return
        ghost = self.b.put(system, "CUST", template, "cust_no", self.new_cust_no(system))
        out.add(self._line(system, "CUST", b"D", ghost), "ignored")  # unknown: ignored
        for action in (b"A", b"A", b"U"):  # new customers, one sent as an update
            self.new_customer(system, action)

    def new_customer(self, system: str, action: bytes) -> None:
        truth = self.b.systems[system]
        persons = [
            k for k, f in truth.customers.items()
            if self.b.get(system, "CUST", f, "cust_type") == b"P"
        ]  # fmt: skip
        if not persons:
            return
        template = truth.customers[persons[int(self.rng.integers(0, len(persons)))]]
        cust_no = self.new_cust_no(system)
        fields = self.b.put(system, "CUST", template, "cust_no", cust_no)
        fields = self.b.put(system, "CUST", fields, "id_type", b"I" if system == "CRD" else b"01")
        fields = self.b.put(system, "CUST", fields, "id_no", self.new_identity())
        truth.customers[cust_no] = fields
        self.touched[system].add(cust_no)
        self.new_customers.append((system, cust_no.decode()))
        self._cust_file(system).add(self._line(system, "CUST", action, fields), "applied")
        wealthy = self.rng.random() < 0.5
        for _ in range(int(self.rng.integers(1, 3))):
            self.new_account(system, cust_no, wealthy=wealthy)

    def move_identity(
        self, system: str, key: bytes | None = None, new_id: bytes | None = None
    ) -> tuple[bytes, bytes] | None:
        """Correct one record's identification number to another customer's (a typo fixed).

        Without `key`/`new_id`, a random record of `system` takes the number of a random
        retail customer. Returns (customer number, new number), None if nobody fits.
        """
        truth = self.b.systems[system]
        if key is not None and new_id is not None:
            return self._set_id(system, key, new_id)
        rtl = self.b.systems["RTL"].customers
        want = b"I" if system == "CRD" else b"01"
        movers = [
            k for k, f in truth.customers.items()
            if self.b.get(system, "CUST", f, "id_type") == want and k not in self.touched[system]
        ]  # fmt: skip
        targets = [
            f for k, f in rtl.items()
            if self.b.get("RTL", "CUST", f, "id_type") == b"01"
            and len(self.b.get("RTL", "CUST", f, "id_no")) == 18
            and self.b.get("RTL", "CUST", f, "id_no").isdigit()
            and k not in self.touched["RTL"]
        ]  # fmt: skip
        if not movers or not targets:
            return None
        key = movers[int(self.rng.integers(0, len(movers)))]
        target = targets[int(self.rng.integers(0, len(targets)))]
        return self._set_id(system, key, self.b.get("RTL", "CUST", target, "id_no"))

    def _set_id(self, system: str, key: bytes, new_id: bytes) -> tuple[bytes, bytes]:
        truth = self.b.systems[system]
        self.touched[system].add(key)
        fields = self.b.put(system, "CUST", truth.customers[key], "id_no", new_id)
        truth.customers[key] = fields
        self._cust_file(system).add(self._line(system, "CUST", b"U", fields), "applied")
        self.moved.append((system, key.decode(), new_id.decode()))
        return key, new_id

    # -- accounts ------------------------------------------------------------------------

    def _balance(self, system: str, fields: Fields) -> int:
        return fen(self.b.get(system, ACCOUNT_ENTITY[system], fields, BALANCE_FIELD[system]))

    def close_account(self, system: str, acct_no: bytes) -> None:
        truth = self.b.systems[system]
        entity = ACCOUNT_ENTITY[system]
        fields = truth.accounts[acct_no]
        self.touched_accounts[system].add(acct_no)
        before = self._balance(system, fields)
        if system == "FND":
            del truth.accounts[acct_no]
        else:
            zeroes = {"RTL": ["balance"], "CRD": ["deposit_balance", "overdraft_amount"],
                      "LON": ["principal_balance", "overdue_balance"]}[system]  # fmt: skip
            for name in zeroes:
                fields = self.b.put(system, entity, fields, name, b"0.00")
            if system == "LON":
                fields = self.b.put(system, entity, fields, "overdue_periods", b"0")
            fields = self.b.put(system, entity, fields, "status", b"C")
            truth.accounts[acct_no] = fields
            self.txn(system, fields, -before, 0)
        self._acct_file(system).add(self._line(system, entity, b"D", fields), "applied")

    def new_account(
        self, system: str, cust_no: bytes, *, wealthy: bool, action: bytes = b"A"
    ) -> None:
        truth = self.b.systems[system]
        entity = ACCOUNT_ENTITY[system]
        if not truth.accounts:
            return
        templates = sorted(truth.accounts)
        template = truth.accounts[templates[int(self.rng.integers(0, len(templates)))]]
        acct_no = self.new_acct_no(system)
        fields = [acct_no, cust_no, *template[2:]]
        if system != "FND":
            fields = self.b.put(system, entity, fields, "status", b"N")
        scale = 10.0 if wealthy else 1.0
        cny = float(self.rng.uniform(60_000, 400_000)) * scale
        currency = self.b.get(system, entity, fields, "currency")
        rate = self.rates.get(currency.decode(), 1_000_000)
        units = int(cny * 100_000_000 / rate)
        if system == "RTL":
            units = max(units, self.min_retail_fen(currency))
            fields = self.b.put(system, entity, fields, "balance", money(units))
        elif system == "CRD":
            fields = self.b.put(system, entity, fields, "deposit_balance", money(units // 20))
            fields = self.b.put(system, entity, fields, "overdraft_amount", b"0.00")
        elif system == "LON":
            fields = self.b.put(system, entity, fields, "principal_balance", money(units // 4))
            fields = self.b.put(system, entity, fields, "overdue_balance", b"0.00")
            fields = self.b.put(system, entity, fields, "overdue_periods", b"0")
        else:
            nav = fen(self.b.get(system, entity, fields, "nav"))
            shares = max(units * 10_000 // max(nav, 1), 100)
            fields = self.b.put(system, entity, fields, "shares", money(shares))
            fields = self.b.put(system, entity, fields, "market_value",
                                money((shares * nav + 5_000) // 10_000))  # fmt: skip
        truth.accounts[acct_no] = fields
        self.touched_accounts[system].add(acct_no)
        self._acct_file(system).add(self._line(system, entity, action, fields), "applied")
        self.txn(system, fields, self._balance(system, fields), self._balance(system, fields))

    def change_balance(self, system: str, acct_no: bytes) -> None:
        truth = self.b.systems[system]
        entity = ACCOUNT_ENTITY[system]
        fields = truth.accounts[acct_no]
        before = self._balance(system, fields)
        factor = float(self.rng.choice([0.2, 0.7, 0.95, 1.05, 1.5, 5.0]))
        if system == "RTL":
            currency = self.b.get(system, entity, fields, "currency")
            after = max(int(before * factor), self.min_retail_fen(currency))
            fields = self.b.put(system, entity, fields, "balance", money(after))
        elif system == "CRD":
            after = int(before * factor) if before else int(self.rng.integers(0, 5_000_000))
            fields = self.b.put(system, entity, fields, "deposit_balance", money(after))
            limit = fen(self.b.get(system, entity, fields, "credit_limit"))
            owed = int(self.rng.integers(0, max(limit, 1)))
            fields = self.b.put(system, entity, fields, "overdraft_amount", money(owed))
        elif system == "LON":
            term = max(int(self.b.get(system, entity, fields, "term_months") or b"1"), 1)
            after = max(before - before // term, 0)
            fields = self.b.put(system, entity, fields, "principal_balance", money(after))
            periods = int(self.rng.integers(0, 4))
            fields = self.b.put(system, entity, fields, "overdue_periods", str(periods).encode())
            fields = self.b.put(system, entity, fields, "overdue_balance",
                                money(after // term * periods))  # fmt: skip
        else:
            nav = fen(self.b.get(system, entity, fields, "nav"))
            shares = max(int(fen(self.b.get(system, entity, fields, "shares")) * factor), 100)
            after = (shares * nav + 5_000) // 10_000
            fields = self.b.put(system, entity, fields, "shares", money(shares))
            fields = self.b.put(system, entity, fields, "market_value", money(after))
        truth.accounts[acct_no] = fields
        self._acct_file(system).add(self._line(system, entity, b"U", fields), "applied")
        self.txn(system, fields, after - before, after)

    def accounts(self, system: str) -> None:
        truth = self.b.systems[system]
        entity = ACCOUNT_ENTITY[system]
        out = self._acct_file(system)
        busy = self.touched_accounts[system]
        open_accounts = sorted(
            k for k, f in truth.accounts.items()
            if system == "FND" or self.b.get(system, entity, f, "status") != b"C"
            if f[1] in truth.customers
        )  # fmt: skip
        n = max(1, round(len(open_accounts) * self.change_rate))
        for acct_no in self._pick(open_accounts, busy, n):
            self.change_balance(system, acct_no)
        if len(open_accounts) < 4:
            return
        for acct_no in self._pick(open_accounts, busy, 1):
            self.close_account(system, acct_no)
        owners = sorted(k for k in truth.customers if k not in self.touched[system])
        if owners:
            owner = owners[int(self.rng.integers(0, len(owners)))]
            self.new_account(system, owner, wealthy=False)
            self.new_account(system, owner, wealthy=False, action=b"U")  # unknown U: an add
        template = truth.accounts[min(truth.accounts)]
        unknown = [self.new_acct_no(system), *template[1:]]
        out.add(self._line(system, entity, b"D", unknown), "ignored")
        orphan = [self.new_acct_no(system), self.new_cust_no(system), *template[2:]]
        out.add(self._line(system, entity, b"A", orphan), "orphan")

    # -- bad lines -----------------------------------------------------------------------

    def bad_lines(self, system: str, role: str) -> None:
        """Every kind of damage once, plus a duplicate key, on records the day leaves alone."""
        truth = self.b.systems[system]
        entity = "CUST" if role == "customer" else ACCOUNT_ENTITY[system]
        layout = self.b.layout(system, CHANGE_ENTITY[entity])
        table = truth.customers if role == "customer" else truth.accounts
        busy = self.touched[system] if role == "customer" else self.touched_accounts[system]
        kinds = breakages(layout)
        picked = self._pick(sorted(table), busy, len(kinds) + 1)
        if len(picked) < len(kinds) + 1:
            return
        out = self._cust_file(system) if role == "customer" else self._acct_file(system)
        for variant, (damage, key) in enumerate(zip(kinds, picked, strict=False)):
            line = break_line([b"U", *table[key]], layout, self.b.config, damage, variant)
            out.add(line, damage.reason)
        twin = self._line(system, entity, b"U", table[picked[-1]])
        out.add(twin, "duplicate_key")
        out.add(twin, "duplicate_key")

    def bad_txn(self, system: str) -> None:
        truth = self.b.systems[system]
        if not truth.accounts:
            return
        layout = self.b.layout(system, "TXN")
        acct = truth.accounts[sorted(truth.accounts)[0]]
        currency = self.b.get(system, ACCOUNT_ENTITY[system], acct, "currency")
        kinds = breakages(layout)
        for variant, damage in enumerate(kinds):
            txn_id = f"{system}{self.b.code}{_ymd(self.day)}BAD{variant:03d}".encode()
            good = self._txn_line(txn_id, acct[0], 100, currency, 100)
            fields = [
                part.encode("gb18030") for part in good.rstrip(b"\n").decode("gb18030").split("|")
            ]
            self.txn_lines[system].append(
                break_line(fields, layout, self.b.config, damage, variant)
            )
            self.txn_set_aside[system] += 1
        dup = self._txn_line(
            f"{system}{self.b.code}{_ymd(self.day)}DUP".encode(), acct[0], 100, currency, 100
        )
        self.txn_lines[system] += [dup, dup]
        self.txn_set_aside[system] += 2

    def make(self) -> None:
        for system in SYSTEMS:
            self.customers(system)
        if self.day_index % 2 == 1:
            self.move_identity("CRD")
        else:
            self.move_identity("LON")
        for system in SYSTEMS:
            self.accounts(system)
        for system in SYSTEMS:
            self.bad_lines(system, "customer")
            self.bad_lines(system, "account")
        for system in TXN_SYSTEMS:
            self.bad_txn(system)


def _write_lines(path: Path, lines: Sequence[bytes], layout: Layout) -> dict[str, Any]:
    """Write a data file from ready lines, then its `.ok` (size, records, control sum)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(lines)
    control = sum(control_value(line, layout) for line in lines)
    path.write_bytes(data)
    flag = f"{path.name}|{len(data)}|{len(lines)}|{format_fen(control)}\n"
    path.with_suffix(".ok").write_text(flag, encoding="ascii", newline="\n")
    return {"records": len(lines), "bytes": len(data), "control_sum": format_fen(control)}


def _write_rates(root: Path, day: date, rates: dict[str, int]) -> None:
    name = f"FXR_RATE_{_ymd(day)}.dat"
    write_data_file(
        root / _ymd(day) / name,
        records.rate_table(rates, day),
        layouts().layouts["FXR_RATE"],
    )


def _move_rates(
    rng: np.random.Generator, branches: dict[str, Branch], rates: dict[str, int]
) -> dict[str, int]:
    """Move one currency's rate by 0.3% where no retail account crosses its filter."""
    for currency in [str(c) for c in rng.permutation(sorted(rates))]:
        new = round(rates[currency] * 1.003)
        crossing = False
        for branch in branches.values():
            limit = export_filter(branch.code) * 10**8
            for fields in branch.systems["RTL"].accounts.values():
                if branch.get("RTL", "ACCT", fields, "currency").decode() != currency:
                    continue
                balance = fen(branch.get("RTL", "ACCT", fields, "balance"))
                if (balance * rates[currency] < limit) != (balance * new < limit):
                    crossing = True
                    break
            if crossing:
                break
        held = any(
            branch.get(s, ACCOUNT_ENTITY[s], f, "currency").decode() == currency
            for branch in branches.values()
            for s in SYSTEMS
            for f in branch.systems[s].accounts.values()
        )
        if held and not crossing:
            return {**rates, currency: new}
    return rates


def write_day(
    landing: Path,
    day: date,
    index: int,
    branches: dict[str, Branch],
    rates: dict[str, int],
    *,
    seed: int = 1,
    change_rate: float = 0.05,
    make: Callable[[DayMaker], None] = DayMaker.make,
) -> Path:
    """Write one business date's files for every branch; returns its manifest.

    `make` decides what the day changes (default: everything `DayMaker.make` does); tests
    pass their own to build one precise situation.
    """
    config = layouts()
    _write_rates(landing, day, rates)
    files = []
    moved: list[tuple[str, str, str, str]] = []
    new_customers: list[tuple[str, str, str]] = []
    for code, branch in branches.items():
        maker = DayMaker(
            branch,
            day,
            np.random.default_rng([seed, index, *code.encode()]),
            rates,
            change_rate,
            index,
        )
        make(maker)
        moved += [(code, *m) for m in maker.moved]
        new_customers += [(code, *c) for c in maker.new_customers]
        folder = landing / _ymd(day) / code
        for (system, entity), lines in maker.files.items():
            layout = config.layout_for(system, entity)
            order = maker.rng.permutation(len(lines.lines))
            path = folder / f"{system}_{entity}_{code}_{_ymd(day)}.dat"
            info = _write_lines(path, [lines.lines[int(i)] for i in order], layout)
            files.append(
                {
                    "file": path.relative_to(landing).as_posix(),
                    "layout": f"{system}_{entity}",
                    "branch": code,
                    **info,
                    "applied": lines.applied,
                    "ignored": lines.ignored,
                    "set_aside": len(lines.set_aside),
                    "set_aside_reasons": sorted(lines.set_aside),
                }
            )
        for system in TXN_SYSTEMS:
            layout = config.layout_for(system, "TXN")
            path = folder / f"{system}_TXN_{code}_{_ymd(day)}.dat"
            info = _write_lines(path, maker.txn_lines[system], layout)
            files.append(
                {
                    "file": path.relative_to(landing).as_posix(),
                    "layout": f"{system}_TXN",
                    "branch": code,
                    **info,
                    "set_aside": maker.txn_set_aside[system],
                }
            )
    out = landing / _ymd(day) / "daily_manifest.json"
    out.write_text(
        json.dumps(
            {
                "business_date": _ymd(day),
                "day": index,
                "seed": seed,
                "fx_rates": {c: str(Decimal(r) / 10_000) for c, r in sorted(rates.items())},
                "moved_ids": moved,
                "new_customers": new_customers,
                "files": files,
            },
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return out


def write_daily(
    landing: Path,
    d0: date,
    days: int,
    *,
    seed: int = 1,
    change_rate: float = 0.05,
    rate_move_days: Sequence[int] = (3,),
    full_out: Path | None = None,
) -> list[Path]:
    """Write D1..D`days` after the initial sample of `d0` in `landing`; their manifests.

    `change_rate` is the share of each system's open accounts whose balance changes per
    day (customers: half that share get a contact update); `rate_move_days` the day
    numbers on which one currency's rate moves (the others keep D0's rates).
    """
    manifest, branches = read_initial(landing, d0)
    rates = {c: rate_units(r) for c, r in manifest["fx_rates"].items()}
    written = []
    day = d0
    for index in range(1, days + 1):
        day = d0 + timedelta(days=index)
        if index in rate_move_days:
            rates = _move_rates(np.random.default_rng([seed, index, 0]), branches, rates)
        written.append(
            write_day(landing, day, index, branches, rates, seed=seed, change_rate=change_rate)
        )
    if full_out is not None:
        write_full(full_out, day, branches, rates)
    return written


def write_full(out: Path, day: date, branches: dict[str, Branch], rates: dict[str, int]) -> None:
    """The full dumps (`CUST`, `ACCT`/`HOLD`, `FXR_RATE`) of the truth as of `day`.

    As the core systems would send them: retail accounts under the export filter are left
    out, and so are the (closed) accounts of customers that no longer exist.
    """
    config = layouts()
    _write_rates(out, day, rates)
    for code, branch in branches.items():
        limit = export_filter(code) * 10**8
        for system in SYSTEMS:
            truth = branch.systems[system]
            cust_layout = config.layout_for(system, "CUST")
            entity = ACCOUNT_ENTITY[system]
            acct_layout = config.layout_for(system, entity)
            lines = [assemble(f, cust_layout) for _, f in sorted(truth.customers.items())]
            folder = out / _ymd(day) / code
            _write_lines(folder / f"{system}_CUST_{code}_{_ymd(day)}.dat", lines, cust_layout)
            accounts = []
            for _, fields in sorted(truth.accounts.items()):
                if fields[1] not in truth.customers:
                    continue
                if system == "RTL":
                    currency = branch.get("RTL", "ACCT", fields, "currency").decode()
                    balance = fen(branch.get("RTL", "ACCT", fields, "balance"))
                    if balance * rates.get(currency, 1_000_000) < limit:
                        continue
                accounts.append(assemble(fields, acct_layout))
            _write_lines(
                folder / f"{system}_{entity}_{code}_{_ymd(day)}.dat", accounts, acct_layout
            )
