"""TXN lines: every retail or card balance change as credits and debits, so a statement
reconciles (each line carries the balance after it)."""

from __future__ import annotations

from crm_pipeline.sample.amounts import money
from crm_pipeline.sample.daily.state import TXN_SYSTEMS, DayState
from crm_pipeline.sample.daily.truth import Fields
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.naming import ACCOUNT_ENTITY
from crm_pipeline.sample.writer import assemble

CHANNELS = (b"ATM", b"POS", b"MOB", b"CTR", b"NET")
MEMOS = ("工资", "转账", "消费", "利息", "还款", "取现")


def txn(state: DayState, system: str, acct: Fields, delta: int, after: int) -> None:
    """TXN lines moving an account's balance by `delta` fen to `after`."""
    if system not in TXN_SYSTEMS or delta == 0:
        return
    entity = ACCOUNT_ENTITY[system]
    acct_no = acct[0]
    currency = state.b.get(system, entity, acct, "currency")
    parts = [delta]
    if abs(delta) > 200 and state.rng.random() < 0.3:  # a credit and a debit
        extra = int(state.rng.integers(1, abs(delta) // 2 + 1))
        parts = [delta + extra, -extra] if delta > 0 else [extra, delta - extra]
    balance = after - delta
    for amount in parts:
        balance += amount
        seq = len(state.txn_lines[system]) + 1
        txn_id = f"{system}{state.b.code}{ymd(state.day)}{seq:07d}".encode("ascii")
        state.txn_lines[system].append(txn_line(state, txn_id, acct_no, amount, currency, balance))


def txn_line(
    state: DayState, txn_id: bytes, acct_no: bytes, amount: int, currency: bytes, after: int
) -> bytes:
    layout = state.b.layout("RTL", "TXN")
    time = f"{int(state.rng.integers(0, 24)):02d}{int(state.rng.integers(0, 60)):02d}00"
    memo = MEMOS[int(state.rng.integers(0, len(MEMOS)))].encode("gb18030")
    fields = [
        txn_id,
        acct_no,
        ymd(state.day).encode(),
        time.encode(),
        b"C" if amount > 0 else b"D",
        money(abs(amount)),
        currency,
        CHANNELS[int(state.rng.integers(0, len(CHANNELS)))],
        money(after),
        memo,
    ]
    return assemble(fields, layout)
