"""One run per province and business date at a time: a lease in the warehouse.

A retry beside a manual rerun, or two operators at once, must not write the same night:
the losing run would abandon the batch the winner published. The lease is taken before a
province's run begins and released when it ends; a second run stops at once with who holds
it ("already running since ... on host ... pid ...").

- PostgreSQL: a session advisory lock on a connection held for the run decides; it ends
  with the session, so a killed run's lease is free at once. The `crm_lease` row only says
  who holds it.
- SQLite: the `crm_lease` row decides (its primary key admits one holder), kept alive by a
  heartbeat thread. A row whose holder is a dead process of this host, or whose heartbeat
  is older than `EXPIRES`, is taken over: a killed run never blocks the next one for long.

Taking the lease also marks the runs of that province and date that the warehouse still
shows as started as `died`: nobody holds their lease, so they are not running.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import IntegrityError

from common.errors import PipelineError
from load.control import now

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
EXPIRES = timedelta(minutes=10)  # a heartbeat older than this: the holder is gone
DIED = "died"


class AlreadyRunning(PipelineError):
    """Another run holds the lease of this province and date."""


def lease_key(province: str, business_date: date) -> str:
    return f"{province}/{business_date:%Y%m%d}"


def _lock_number(key: str) -> int:
    """The advisory lock's 64-bit number of a lease key (stable across processes)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(holder: Row[Any], host: str) -> bool:
    """Whether a lease row's holder no longer runs: a dead process of `host` (this
    machine), or a heartbeat older than EXPIRES."""
    beat = holder.heartbeat_at
    if holder.host == host and not _pid_alive(int(holder.pid)):
        return True
    if isinstance(beat, str):  # SQLite may hand back text
        beat = datetime.fromisoformat(beat)
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=now().tzinfo)
    return bool(now() - beat > EXPIRES)


class RunLease:
    """`with RunLease(engine, province, day):` the province's date is this process's."""

    def __init__(self, engine: Engine, province: str, business_date: date) -> None:
        self.engine = engine
        self.province, self.business_date = province, business_date
        self.key = lease_key(province, business_date)
        self.token = str(uuid.uuid4())
        self.host, self.pid = socket.gethostname()[:100], os.getpid()
        self._session: Connection | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __enter__(self) -> RunLease:
        if self._postgres:
            self._lock_postgres()
        else:
            self._take_row()
            self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="lease")
            self._beat.start()
        self._mark_died()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        with self.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM crm_lease WHERE lease_key = :k AND token = :t"),
                {"k": self.key, "t": self.token},
            )
        if self._session is not None:
            self._session.execute(
                text("SELECT pg_advisory_unlock(:n)"), {"n": _lock_number(self.key)}
            )
            self._session.commit()
            self._session.close()

    def _refuse(self, row: Row[Any] | None) -> AlreadyRunning:
        if row is None:
            return AlreadyRunning(f"{self.key}: already running (the holder is not recorded)")
        host, pid, since = row.host, row.pid, row.since
        return AlreadyRunning(
            f"{self.province} {self.business_date:%Y%m%d}: already running since {since}"
            f" on host {host} pid {pid}; wait for it to end (or, if that process is gone,"
            " run again: its lease is released with it)"
        )

    def _holder(self, conn: Connection) -> Row[Any] | None:
        return conn.execute(
            text(
                "SELECT token, host, pid, since, heartbeat_at FROM crm_lease WHERE lease_key = :k"
            ),
            {"k": self.key},
        ).first()

    def _lock_postgres(self) -> None:
        session = self.engine.connect()
        got = session.execute(
            text("SELECT pg_try_advisory_lock(:n)"), {"n": _lock_number(self.key)}
        ).scalar()
        session.commit()
        if not got:
            with self.engine.connect() as conn:
                holder = self._holder(conn)
            session.close()
            raise self._refuse(holder)
        self._session = session
        with self.engine.begin() as conn:  # the lock is ours: whatever row is there is stale
            conn.execute(text("DELETE FROM crm_lease WHERE lease_key = :k"), {"k": self.key})
            self._insert(conn)

    def _insert(self, conn: Connection) -> None:
        at = now()
        conn.execute(
            text(
                "INSERT INTO crm_lease (lease_key, token, host, pid, since, heartbeat_at)"
                " VALUES (:k, :t, :h, :p, :s, :s)"
            ),
            {"k": self.key, "t": self.token, "h": self.host, "p": self.pid, "s": at},
        )

    def _take_row(self) -> None:
        try:
            with self.engine.begin() as conn:
                self._insert(conn)
            return
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            holder = self._holder(conn)
            if holder is None or not holder_gone(holder, self.host):
                raise self._refuse(holder)
            log.warning("%s: the lease of pid %s on %s is stale: taking it over", self.key,
                        holder.pid, holder.host)  # fmt: skip
            taken = conn.execute(
                text(
                    "UPDATE crm_lease SET token = :t, host = :h, pid = :p, since = :s,"
                    " heartbeat_at = :s WHERE lease_key = :k AND token = :old"
                ),
                {
                    "k": self.key,
                    "t": self.token,
                    "h": self.host,
                    "p": self.pid,
                    "s": now(),
                    "old": holder.token,
                },  # fmt: skip
            ).rowcount
        if taken != 1:
            raise AlreadyRunning(f"{self.key}: another run took the lease at the same moment")

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE crm_lease SET heartbeat_at = :n WHERE lease_key = :k AND token = :t"
                        ),
                        {"n": now(), "k": self.key, "t": self.token},
                    )
            except Exception:  # a busy database delays a beat; EXPIRES allows for many
                log.debug("lease heartbeat of %s delayed", self.key, exc_info=True)

    def _mark_died(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE crm_run SET state = :died, ended_at = :n WHERE province = :p"
                    " AND business_date = :d AND state = 'started'"
                ),
                {"died": DIED, "n": now(), "p": self.province, "d": self.business_date},
            )


def run_alive(engine: Engine, province: str, business_date: date, host: str, pid: int) -> bool:
    """Whether the run of process `pid` on `host` still holds its night's lease: a run the
    warehouse shows as started but that holds no lease has died (killed, machine lost)."""
    key = lease_key(province, business_date)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT token, host, pid, since, heartbeat_at FROM crm_lease WHERE lease_key = :k"
            ),
            {"k": key},
        ).first()
        if row is None or row.host != host or int(row.pid) != pid:
            return False
        if engine.dialect.name == "postgresql":
            number = _lock_number(key) & 0xFFFFFFFFFFFFFFFF
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :c AND objid = :o AND objsubid = 1"
                ),
                {"c": number >> 32, "o": number & 0xFFFFFFFF},
            ).scalar()
            return bool(held)
    return not holder_gone(row, socket.gethostname()[:100])


def run_state(engine: Engine, run_id: int) -> str:
    """A run's state as an operator should read it: `died` for a run recorded as started
    whose process no longer holds its lease, else the recorded state."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT state, province, business_date, host, pid FROM crm_run WHERE run_id = :r"),
            {"r": run_id},
        ).first()
    if row is None:
        return "unknown"
    if row.state != "started":
        return str(row.state)
    day = row.business_date
    if isinstance(day, str):
        day = date.fromisoformat(day)
    alive = run_alive(engine, row.province, day, row.host or "", int(row.pid or 0))
    return "started" if alive else DIED
