"""One file's transfer against a real sshd: resume after a cut link (counted at the
protocol level), split downloads and their sidecar, verification against the flag,
re-sends.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from extract.sftp import SftpTransferError
from extract.sftp.names import PARTIAL_DIR
from tests.extract.sftp.helpers import (
    D,
    Remote,
    fetcher,
    flag_for,
    now,
    rtl_cust_line,
)
from tests.servers.sshd import SshdServer

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]


# -- resume ----------------------------------------------------------------------------


class ReadCounter:
    """Counts the bytes asked for by SFTP READ requests on one remote file, at the protocol
    level (paramiko's request function), independently of the fetcher's own accounting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.requested = 0
        self.lowest_offset: int | None = None
        # (offset, length) of every READ, per SFTP session, in the order sessions appeared
        self.by_session: dict[int, list[tuple[int, int]]] = {}
        handles: set[tuple[int, object]] = set()  # handles are per session
        # Sessions kept alive, so that no later session gets a finished one's id(), and
        # with it the handles that session had open (a handle is a small number, reused).
        clients: list[object] = []
        original_open = paramiko.SFTPClient.open
        original_request = paramiko.SFTPClient._async_request  # type: ignore[attr-defined]

        def opening(client, filename, *args, **kwargs):
            handle = original_open(client, filename, *args, **kwargs)
            clients.append(client)
            if str(filename).endswith("/" + name):
                handles.add((id(client), handle.handle))
            else:  # the session may give another file the handle the big file had
                handles.discard((id(client), handle.handle))
            return handle

        def counting(client, fileobj, t, *args):
            if t == paramiko.sftp.CMD_READ and (id(client), args[0]) in handles:
                offset, length = int(args[1]), int(args[2])
                self.requested += length
                self.by_session.setdefault(id(client), []).append((offset, length))
                if self.lowest_offset is None or offset < self.lowest_offset:
                    self.lowest_offset = offset
            return original_request(client, fileobj, t, *args)

        monkeypatch.setattr(paramiko.SFTPClient, "open", opening)
        monkeypatch.setattr(paramiko.SFTPClient, "_async_request", counting)

    def reset(self) -> None:
        self.requested = 0
        self.lowest_offset = None


def big_file(remote: Remote, size: int = 50 * 1024 * 1024) -> tuple[str, bytes]:
    line = b"0123456789" * 9 + b"abcdefghi\n"  # 100 bytes, LF as RTL_TXN says
    data = line * (size // len(line))
    stem = f"RTL_TXN_ZJ_{D}"
    remote.put("ZJ", stem, data)
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    return f"{stem}.dat", data


def killer(
    server: SshdServer, after: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, int], Callable[[str, int, int], None]]:
    """A progress callback that kills the sshd processes serving us once `after` bytes are
    on disk: the link drops in the middle of the file, as between the data centres.

    Over loopback every byte in flight arrives almost at once, so fewer requests are kept
    in flight here (4 MiB instead of 32 MiB): the cut then surely lands mid-file."""
    monkeypatch.setattr("extract.sftp.reader.MAX_REQUESTS", 16)
    state = {"killed": 0, "at": 0}
    lock = threading.Lock()  # a split file reports progress from several threads

    def progress(name: str, position: int, total: int) -> None:
        with lock:
            if not state["killed"] and position >= after:
                state["killed"] = server.kill_sessions()
                state["at"] = position

    return state, progress


def test_killed_connection_resumes_without_fetching_received_bytes_again(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, data = big_file(remote)
    counter = ReadCounter(monkeypatch, name)
    state, progress = killer(remote.server, 10 * 1024 * 1024, monkeypatch)

    with pytest.raises(SftpTransferError) as failed:
        fetcher(remote, retries=0, progress=progress).fetch_date(D, ["ZJ"], tmp_path, now())
    assert state["killed"] >= 1
    assert name in str(failed.value) and ".partial" in str(failed.value)
    landed = tmp_path / D / "ZJ" / name
    assert not landed.exists() and not landed.with_suffix(".ok").exists()
    partial = tmp_path / D / "ZJ" / PARTIAL_DIR / name
    on_disk = partial.stat().st_size
    assert state["at"] <= on_disk < len(data)
    assert partial.read_bytes() == data[:on_disk]  # what was kept is right

    counter.reset()
    report = fetcher(remote, retries=0).fetch_date(D, ["ZJ"], tmp_path, now())
    fetched = report.by_name()[name]
    assert fetched.status == "resumed" and fetched.resumed_from == on_disk
    assert fetched.bytes_transferred == len(data) - on_disk
    # the protocol-level proof: the second attempt asked only for the missing bytes
    assert counter.lowest_offset == on_disk
    assert counter.requested == len(data) - on_disk
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not partial.exists()


def test_dropped_link_is_resumed_automatically_within_one_run(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, data = big_file(remote, size=20 * 1024 * 1024)
    counter = ReadCounter(monkeypatch, name)
    state, progress = killer(remote.server, 5 * 1024 * 1024, monkeypatch)
    monkeypatch.setattr("extract.sftp.session.time.sleep", lambda s: None)  # no back-off wait
    report = fetcher(remote, retries=2, progress=progress).fetch_date(D, ["ZJ"], tmp_path, now())
    fetched = report.by_name()[name]
    assert state["killed"] >= 1
    assert fetched.status == "resumed" and fetched.resumed_from >= state["at"]
    # The resuming session starts at the bytes already on disk and asks for exactly the
    # rest: nothing that had landed is fetched again. (What was in flight or buffered but
    # not yet written when the link died is fetched again; how much depends on load.)
    resumed = list(counter.by_session.values())[-1]
    assert min(offset for offset, _ in resumed) == fetched.resumed_from
    assert sum(length for _, length in resumed) == len(data) - fetched.resumed_from
    assert (tmp_path / D / "ZJ" / name).read_bytes() == data


def read_ranges(path: Path) -> list[tuple[int, int, int]]:
    return [
        (int(a), int(b), int(c))
        for a, b, c in (line.split() for line in path.read_text().splitlines())
    ]


def test_large_file_split_over_connections_then_resumed_from_the_range_sidecar(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file is fetched as 3 ranges over 3 connections; killed midway, the sidecar
    says which bytes are on disk, and the resume asks for exactly the holes. (Slots to
    spare, so the other files of the day never leave the big one fewer than 3.)"""
    monkeypatch.setattr("extract.sftp.ranged.SPLIT_MIN", 8 * 1024 * 1024)
    monkeypatch.setattr("extract.sftp.ranged.SIDECAR_EVERY", 2 * 1024 * 1024)
    name, data = big_file(remote)
    counter = ReadCounter(monkeypatch, name)
    state, kill_at = killer(remote.server, 12 * 1024 * 1024, monkeypatch)

    def progress(file: str, position: int, total: int) -> None:
        # Cut the link only once all three ranges are being read: on a loaded machine the
        # first range can otherwise pass the mark before the others have started.
        if len(counter.by_session) >= 3:
            kill_at(file, position, total)

    try:
        fetcher(remote, retries=0, progress=progress, max_parallel=8).fetch_date(
            D, ["ZJ"], tmp_path, now()
        )
    except SftpTransferError:
        pass
    else:
        pytest.fail(
            f"the link was never cut: {len(counter.by_session)} sessions read the file, {state}"
        )
    assert state["killed"] >= 1
    assert len(counter.by_session) == 3  # three connections read the file
    starts = sorted(min(o for o, _ in reads) for reads in counter.by_session.values())
    partial = tmp_path / D / "ZJ" / PARTIAL_DIR / name
    sidecar = partial.with_name(name.removesuffix(".dat") + ".ranges")
    segments = read_ranges(sidecar)
    assert [start for start, _, _ in segments] == starts == [0, 17 << 20, 34 << 20]
    assert segments[-1][2] == len(data)
    on_disk = sum(done - start for start, done, _ in segments)
    assert state["at"] <= on_disk < len(data)
    content = partial.read_bytes()
    for start, done, _ in segments:  # what the sidecar claims is right
        assert content[start:done] == data[start:done]
    holes = [(done, end) for _, done, end in segments if done < end]
    assert not (tmp_path / D / "ZJ" / name).exists()

    counter.reset()
    counter.by_session.clear()
    report = fetcher(remote, retries=0, max_parallel=8).fetch_date(D, ["ZJ"], tmp_path, now())
    fetched = report.by_name()[name]
    assert fetched.status == "resumed" and fetched.resumed_from == on_disk
    assert fetched.bytes_transferred == len(data) - on_disk
    # the protocol-level proof: only the holes were asked for, each byte once
    assert counter.requested == len(data) - on_disk
    asked = sorted(r for reads in counter.by_session.values() for r in reads)
    for offset, length in asked:
        assert any(lo <= offset and offset + length <= hi for lo, hi in holes)
    assert all(a[0] + a[1] <= b[0] for a, b in zip(asked, asked[1:], strict=False))
    landed = tmp_path / D / "ZJ" / name
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not partial.exists() and not sidecar.exists()


def test_split_download_stays_within_max_parallel_and_resends_discard_the_sidecar(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("extract.sftp.ranged.SPLIT_MIN", 4 * 1024 * 1024)
    name, data = big_file(remote, size=12 * 1024 * 1024)
    counter = ReadCounter(monkeypatch, name)
    # a stale sidecar and sparse partial of an earlier version must not be trusted
    partial_dir = tmp_path / D / "ZJ" / PARTIAL_DIR
    partial_dir.mkdir(parents=True)
    (partial_dir / name).write_bytes(b"\0" * len(data))
    (partial_dir / name).with_suffix(".ok").write_text(f"{name}|{len(data)}|1|0.00\n")
    (partial_dir / name).with_suffix(".ranges").write_text(f"0 {len(data)} {len(data)}\n")
    report = fetcher(remote, max_parallel=2).fetch_date(D, ["ZJ"], tmp_path, now())
    assert report.by_name()[name].status == "downloaded"
    # two files pending, max_parallel 2: no spare connection, the big file is not split
    # unless the small one's worker was already done; never more than 2 at a time
    assert 1 <= len(counter.by_session) <= 2
    assert counter.requested == len(data)
    assert (tmp_path / D / "ZJ" / name).read_bytes() == data
    assert not list(partial_dir.iterdir())


# -- verification, re-sends ----------------------------------------------------------------


def test_truncated_file_is_refused_and_not_landed(remote: Remote, tmp_path: Path) -> None:
    full = b"".join(rtl_cust_line(i) for i in range(100))
    name = f"RTL_CUST_ZJ_{D}.dat"
    remote.put("ZJ", f"RTL_CUST_ZJ_{D}", full[:5000], flag=flag_for(name, full))
    # same byte count as its flag but one line fewer than the flag claims
    crd = b"a|b\nc|d\n"
    remote.put("ZJ", f"CRD_CUST_ZJ_{D}", crd, flag=f"CRD_CUST_ZJ_{D}.dat|{len(crd)}|3|0.00\n")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")

    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())

    truncated = f"{remote.root}/{D}/ZJ/{name}"
    miscounted = f"{remote.root}/{D}/ZJ/CRD_CUST_ZJ_{D}.dat"
    assert set(report.rejected) == {truncated, miscounted}
    assert "5000 bytes" in report.rejected[truncated] and "re-send" in report.rejected[truncated]
    assert "2 records" in report.rejected[miscounted]
    for stem in (f"RTL_CUST_ZJ_{D}", f"CRD_CUST_ZJ_{D}"):
        for suffix in (".dat", ".ok"):
            assert not (tmp_path / D / "ZJ" / f"{stem}{suffix}").exists()
            assert not (tmp_path / D / "ZJ" / PARTIAL_DIR / f"{stem}{suffix}").exists()
    assert [f.name for f in report.files] == [f"FXR_RATE_{D}.dat"]


def test_control_sum_is_checked_through_extract_verify(remote: Remote, tmp_path: Path) -> None:
    """The fetcher calls extract.verify.verify_against_flag before renaming into place."""
    lines = [
        f"62220000000000{i:02d}|C{i}|CNY|{amount}|0.00|5000.00|20200101|N|ZJ\n"
        for i, amount in enumerate(("100.50", "200.25"))
    ]
    data = "".join(lines).encode()
    good, bad = f"CRD_ACCT_ZJ_{D}", f"CRD_ACCT_NB_{D}"
    remote.put("ZJ", good, data, flag=f"{good}.dat|{len(data)}|2|300.75\n")
    remote.put("NB", bad, data, flag=f"{bad}.dat|{len(data)}|2|999.99\n")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")

    report = fetcher(remote).fetch_date(D, ["ZJ", "NB"], tmp_path, now())

    assert (tmp_path / D / "ZJ" / f"{good}.dat").read_bytes() == data
    assert "control sum" in report.rejected[f"{remote.root}/{D}/NB/{bad}.dat"]
    assert not (tmp_path / D / "NB" / f"{bad}.dat").exists()
    assert not (tmp_path / D / "NB" / f"{bad}.ok").exists()


def test_unreadable_file_is_refused_not_retried(remote: Remote, tmp_path: Path) -> None:
    dat = remote.put("ZJ", f"RTL_CUST_ZJ_{D}", b"".join(rtl_cust_line(i) for i in range(3)))
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    os.chown(dat, 0, 0)
    dat.chmod(0o600)  # the sftp user cannot read it
    start = time.monotonic()
    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    assert "permission denied" in report.rejected[str(dat)].lower()
    assert time.monotonic() - start < 5  # refused at once, no back-off retries
    assert not (tmp_path / D / "ZJ" / dat.name).exists()


def test_resend_replaces_the_landed_file(remote: Remote, tmp_path: Path) -> None:
    first = b"".join(rtl_cust_line(i) for i in range(10))
    stem = f"RTL_CUST_ZJ_{D}"
    remote.put("ZJ", stem, first)
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    landed = tmp_path / D / "ZJ" / f"{stem}.dat"
    assert landed.read_bytes() == first

    second = b"".join(rtl_cust_line(i) for i in range(10, 25))
    remote.put("ZJ", stem, second)  # the sender re-sends: new .dat, new .ok
    # a stale partial of another version must not be resumed
    partial = tmp_path / D / "ZJ" / PARTIAL_DIR
    partial.mkdir(exist_ok=True)
    (partial / f"{stem}.dat").write_bytes(first[:100])
    (partial / f"{stem}.ok").write_text(flag_for(f"{stem}.dat", first))

    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    assert report.by_name()[f"{stem}.dat"].status == "replaced"
    assert landed.read_bytes() == second
    assert landed.with_suffix(".ok").read_text() == flag_for(f"{stem}.dat", second)

    # a third version that is refused withdraws the landed one: it was replaced
    remote.put("ZJ", stem, second[:-10], flag=flag_for(f"{stem}.dat", second + b"more\n"))
    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    assert list(report.rejected) == [f"{remote.root}/{D}/ZJ/{stem}.dat"]
    assert not landed.exists() and not landed.with_suffix(".ok").exists()
