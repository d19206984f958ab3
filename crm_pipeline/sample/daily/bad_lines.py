"""Bad lines of every kind the initial sample has, built from records the day does not
otherwise touch, so that setting them aside changes nothing in the truth."""

from __future__ import annotations

from crm_pipeline.sample.daily.state import CHANGE_ENTITY, DayState
from crm_pipeline.sample.daily.transactions import txn_line
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.inject import break_line, breakages
from crm_pipeline.sample.naming import ACCOUNT_ENTITY


def bad_lines(state: DayState, system: str, role: str) -> None:
    """Every kind of damage once, plus a duplicate key, on records the day leaves alone."""
    truth = state.b.systems[system]
    entity = "CUST" if role == "customer" else ACCOUNT_ENTITY[system]
    layout = state.b.layout(system, CHANGE_ENTITY[entity])
    table = truth.customers if role == "customer" else truth.accounts
    busy = state.touched[system] if role == "customer" else state.touched_accounts[system]
    kinds = breakages(layout)
    picked = state.pick(sorted(table), busy, len(kinds) + 1)
    if len(picked) < len(kinds) + 1:
        return
    out = state.cust_file(system) if role == "customer" else state.acct_file(system)
    for variant, (damage, key) in enumerate(zip(kinds, picked, strict=False)):
        line = break_line([b"U", *table[key]], layout, state.b.config, damage, variant)
        out.add(line, damage.reason)
    twin = state.line(system, entity, b"U", table[picked[-1]])
    out.add(twin, "duplicate_key")
    out.add(twin, "duplicate_key")


def bad_txn(state: DayState, system: str) -> None:
    truth = state.b.systems[system]
    if not truth.accounts:
        return
    layout = state.b.layout(system, "TXN")
    acct = truth.accounts[sorted(truth.accounts)[0]]
    currency = state.b.get(system, ACCOUNT_ENTITY[system], acct, "currency")
    kinds = breakages(layout)
    for variant, damage in enumerate(kinds):
        txn_id = f"{system}{state.b.code}{ymd(state.day)}BAD{variant:03d}".encode()
        good = txn_line(state, txn_id, acct[0], 100, currency, 100)
        fields = [
            part.encode("gb18030") for part in good.rstrip(b"\n").decode("gb18030").split("|")
        ]
        state.txn_lines[system].append(break_line(fields, layout, state.b.config, damage, variant))
        state.txn_set_aside[system] += 1
    dup = txn_line(
        state, f"{system}{state.b.code}{ymd(state.day)}DUP".encode(), acct[0], 100, currency, 100
    )
    state.txn_lines[system] += [dup, dup]
    state.txn_set_aside[system] += 2
