"""Customer changes of one day: contact updates, customers added and deleted, and an
identification number corrected to another customer's (the identity-move case)."""

from __future__ import annotations

from crm_pipeline.sample.daily.account_changes import close_account, new_account
from crm_pipeline.sample.daily.state import DayState


def change_customers(state: DayState, system: str) -> None:
    truth = state.b.systems[system]
    out = state.cust_file(system)
    busy = state.touched[system]
    pool = sorted(truth.customers)
    n = max(1, round(len(pool) * state.change_rate / 2))
    for key in state.pick(pool, busy, n):  # contact changes
        mobile = f"139{int(state.rng.integers(0, 10**8)):08d}".encode()
        fields = state.b.put(system, "CUST", truth.customers[key], "mobile", mobile)
        truth.customers[key] = fields
        out.add(state.line(system, "CUST", b"U", fields), "applied")
    if len(pool) < 4:
        return
    for key in state.pick(pool, busy, 1):  # a customer leaves: record and accounts
        fields = truth.customers.pop(key)
        out.add(state.line(system, "CUST", b"D", fields), "applied")
        for acct_no in sorted(a for a, f in truth.accounts.items() if f[1] == key):
            close_account(state, system, acct_no)
    template = truth.customers.get(pool[0])
    if template is None:
        return
    ghost = state.b.put(system, "CUST", template, "cust_no", state.new_cust_no(system))
    out.add(state.line(system, "CUST", b"D", ghost), "ignored")  # unknown: ignored
    for action in (b"A", b"A", b"U"):  # new customers, one sent as an update
        new_customer(state, system, action)


def new_customer(state: DayState, system: str, action: bytes) -> None:
    truth = state.b.systems[system]
    persons = [
        k for k, f in truth.customers.items()
        if state.b.get(system, "CUST", f, "cust_type") == b"P"
    ]  # fmt: skip
    if not persons:
        return
    template = truth.customers[persons[int(state.rng.integers(0, len(persons)))]]
    cust_no = state.new_cust_no(system)
    fields = state.b.put(system, "CUST", template, "cust_no", cust_no)
    fields = state.b.put(system, "CUST", fields, "id_type", b"I" if system == "CRD" else b"01")
    fields = state.b.put(system, "CUST", fields, "id_no", state.new_identity())
    truth.customers[cust_no] = fields
    state.touched[system].add(cust_no)
    state.new_customers.append((system, cust_no.decode()))
    state.cust_file(system).add(state.line(system, "CUST", action, fields), "applied")
    wealthy = state.rng.random() < 0.5
    for _ in range(int(state.rng.integers(1, 3))):
        new_account(state, system, cust_no, wealthy=wealthy)


def move_identity(
    state: DayState, system: str, key: bytes | None = None, new_id: bytes | None = None
) -> tuple[bytes, bytes] | None:
    """Correct one record's identification number to another customer's (a typo fixed).

    Without `key`/`new_id`, a random record of `system` takes the number of a random
    retail customer. Returns (customer number, new number), None if nobody fits.
    """
    truth = state.b.systems[system]
    if key is not None and new_id is not None:
        return set_id(state, system, key, new_id)
    rtl = state.b.systems["RTL"].customers
    want = b"I" if system == "CRD" else b"01"
    movers = [
        k for k, f in truth.customers.items()
        if state.b.get(system, "CUST", f, "id_type") == want and k not in state.touched[system]
    ]  # fmt: skip
    targets = [
        f for k, f in rtl.items()
        if state.b.get("RTL", "CUST", f, "id_type") == b"01"
        and len(state.b.get("RTL", "CUST", f, "id_no")) == 18
        and state.b.get("RTL", "CUST", f, "id_no").isdigit()
        and k not in state.touched["RTL"]
    ]  # fmt: skip
    if not movers or not targets:
        return None
    key = movers[int(state.rng.integers(0, len(movers)))]
    target = targets[int(state.rng.integers(0, len(targets)))]
    return set_id(state, system, key, state.b.get("RTL", "CUST", target, "id_no"))


def set_id(state: DayState, system: str, key: bytes, new_id: bytes) -> tuple[bytes, bytes]:
    truth = state.b.systems[system]
    state.touched[system].add(key)
    fields = state.b.put(system, "CUST", truth.customers[key], "id_no", new_id)
    truth.customers[key] = fields
    state.cust_file(system).add(state.line(system, "CUST", b"U", fields), "applied")
    state.moved.append((system, key.decode(), new_id.decode()))
    return key, new_id
