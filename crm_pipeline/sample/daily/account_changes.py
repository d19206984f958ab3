"""Account changes of one day: balances moved, accounts closed and opened, unknown keys.

Every change is applied to the truth and written as an ``ACCTCHG``/``HOLDCHG`` line, with
the TXN lines that explain a retail or card balance.
"""

from __future__ import annotations

from crm_pipeline.sample.amounts import fen, money
from crm_pipeline.sample.daily.state import DayState
from crm_pipeline.sample.daily.transactions import txn
from crm_pipeline.sample.fx import CNY_RATE
from crm_pipeline.sample.naming import ACCOUNT_ENTITY


def close_account(state: DayState, system: str, acct_no: bytes) -> None:
    truth = state.b.systems[system]
    entity = ACCOUNT_ENTITY[system]
    fields = truth.accounts[acct_no]
    state.touched_accounts[system].add(acct_no)
    before = state.balance(system, fields)
    if system == "FND":
        del truth.accounts[acct_no]
    else:
        zeroes = {"RTL": ["balance"], "CRD": ["deposit_balance", "overdraft_amount"],
                  "LON": ["principal_balance", "overdue_balance"]}[system]  # fmt: skip
        for name in zeroes:
            fields = state.b.put(system, entity, fields, name, b"0.00")
        if system == "LON":
            fields = state.b.put(system, entity, fields, "overdue_periods", b"0")
        fields = state.b.put(system, entity, fields, "status", b"C")
        truth.accounts[acct_no] = fields
        txn(state, system, fields, -before, 0)
    state.acct_file(system).add(state.line(system, entity, b"D", fields), "applied")


def new_account(
    state: DayState, system: str, cust_no: bytes, *, wealthy: bool, action: bytes = b"A"
) -> None:
    truth = state.b.systems[system]
    entity = ACCOUNT_ENTITY[system]
    if not truth.accounts:
        return
    templates = sorted(truth.accounts)
    template = truth.accounts[templates[int(state.rng.integers(0, len(templates)))]]
    acct_no = state.new_acct_no(system)
    fields = [acct_no, cust_no, *template[2:]]
    if system != "FND":
        fields = state.b.put(system, entity, fields, "status", b"N")
    scale = 10.0 if wealthy else 1.0
    cny = float(state.rng.uniform(60_000, 400_000)) * scale
    currency = state.b.get(system, entity, fields, "currency")
    rate = state.rates.get(currency.decode(), CNY_RATE)
    units = int(cny * 100_000_000 / rate)
    if system == "RTL":
        units = max(units, state.min_retail_fen(currency))
        fields = state.b.put(system, entity, fields, "balance", money(units))
    elif system == "CRD":
        fields = state.b.put(system, entity, fields, "deposit_balance", money(units // 20))
        fields = state.b.put(system, entity, fields, "overdraft_amount", b"0.00")
    elif system == "LON":
        fields = state.b.put(system, entity, fields, "principal_balance", money(units // 4))
        fields = state.b.put(system, entity, fields, "overdue_balance", b"0.00")
        fields = state.b.put(system, entity, fields, "overdue_periods", b"0")
    else:
        nav = fen(state.b.get(system, entity, fields, "nav"))
        shares = max(units * 10_000 // max(nav, 1), 100)
        fields = state.b.put(system, entity, fields, "shares", money(shares))
        fields = state.b.put(system, entity, fields, "market_value",
                            money((shares * nav + 5_000) // 10_000))  # fmt: skip
    truth.accounts[acct_no] = fields
    state.touched_accounts[system].add(acct_no)
    state.acct_file(system).add(state.line(system, entity, action, fields), "applied")
    txn(state, system, fields, state.balance(system, fields), state.balance(system, fields))


def change_balance(state: DayState, system: str, acct_no: bytes) -> None:
    truth = state.b.systems[system]
    entity = ACCOUNT_ENTITY[system]
    fields = truth.accounts[acct_no]
    before = state.balance(system, fields)
    factor = float(state.rng.choice([0.2, 0.7, 0.95, 1.05, 1.5, 5.0]))
    if system == "RTL":
        currency = state.b.get(system, entity, fields, "currency")
        after = max(int(before * factor), state.min_retail_fen(currency))
        fields = state.b.put(system, entity, fields, "balance", money(after))
    elif system == "CRD":
        after = int(before * factor) if before else int(state.rng.integers(0, 5_000_000))
        fields = state.b.put(system, entity, fields, "deposit_balance", money(after))
        limit = fen(state.b.get(system, entity, fields, "credit_limit"))
        owed = int(state.rng.integers(0, max(limit, 1)))
        fields = state.b.put(system, entity, fields, "overdraft_amount", money(owed))
    elif system == "LON":
        term = max(int(state.b.get(system, entity, fields, "term_months") or b"1"), 1)
        after = max(before - before // term, 0)
        fields = state.b.put(system, entity, fields, "principal_balance", money(after))
        periods = int(state.rng.integers(0, 4))
        fields = state.b.put(system, entity, fields, "overdue_periods", str(periods).encode())
        fields = state.b.put(system, entity, fields, "overdue_balance",
                            money(after // term * periods))  # fmt: skip
    else:
        nav = fen(state.b.get(system, entity, fields, "nav"))
        shares = max(int(fen(state.b.get(system, entity, fields, "shares")) * factor), 100)
        after = (shares * nav + 5_000) // 10_000
        fields = state.b.put(system, entity, fields, "shares", money(shares))
        fields = state.b.put(system, entity, fields, "market_value", money(after))
    truth.accounts[acct_no] = fields
    state.acct_file(system).add(state.line(system, entity, b"U", fields), "applied")
    txn(state, system, fields, after - before, after)


def change_accounts(state: DayState, system: str) -> None:
    truth = state.b.systems[system]
    entity = ACCOUNT_ENTITY[system]
    out = state.acct_file(system)
    busy = state.touched_accounts[system]
    open_accounts = sorted(
        k for k, f in truth.accounts.items()
        if system == "FND" or state.b.get(system, entity, f, "status") != b"C"
        if f[1] in truth.customers
    )  # fmt: skip
    n = max(1, round(len(open_accounts) * state.change_rate))
    for acct_no in state.pick(open_accounts, busy, n):
        change_balance(state, system, acct_no)
    if len(open_accounts) < 4:
        return
    for acct_no in state.pick(open_accounts, busy, 1):
        close_account(state, system, acct_no)
    owners = sorted(k for k in truth.customers if k not in state.touched[system])
    if owners:
        owner = owners[int(state.rng.integers(0, len(owners)))]
        new_account(state, system, owner, wealthy=False)
        new_account(state, system, owner, wealthy=False, action=b"U")  # unknown U: an add
    template = truth.accounts[min(truth.accounts)]
    unknown = [state.new_acct_no(system), *template[1:]]
    out.add(state.line(system, entity, b"D", unknown), "ignored")
    orphan = [state.new_acct_no(system), state.new_cust_no(system), *template[2:]]
    out.add(state.line(system, entity, b"A", orphan), "orphan")
