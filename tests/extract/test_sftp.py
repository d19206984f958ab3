"""The SFTP source against a real OpenSSH sshd (tests/servers/sshd.py).

Each test writes its own small dumps (lines + a flag with the right bytes and line count;
control sum 0.00, as for files without a control column) under its own folder of the
server's remote root, so the tests do not see each other's files.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import paramiko
import pytest

from common.config import SftpSettings
from extract.sftp import (
    FlagDeadlineError,
    HostKeyError,
    SftpAuthError,
    SftpCredentials,
    SftpFetcher,
    SftpTransferError,
    UnsafeRemoteName,
)
from extract.sftp.credentials import from_environment
from extract.sftp.listing import list_date
from extract.sftp.names import PARTIAL_DIR, check_file_name, inside, remote_dir
from extract.sftp.push import push_file
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.sshd, pytest.mark.xdist_group("sshd")]

D = "20261124"
time_sleep = time.sleep


def now() -> datetime:
    return datetime.now().astimezone()


def flag_for(name: str, data: bytes) -> str:
    records = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return f"{name}|{len(data)}|{records}|0.00\n"


class Remote:
    """One test's remote root on the server, and helpers to drop dumps into it."""

    def __init__(self, server: SshdServer, root: Path) -> None:
        self.server = server
        self.root = root

    def put(self, branch: str | None, stem: str, data: bytes, flag: str | None = "auto") -> Path:
        """Write `{stem}.dat` (+ its `.ok` unless flag is None) as the sending system would."""
        folder = self.root / D / branch if branch else self.root / D
        folder.mkdir(parents=True, exist_ok=True)
        dat = folder / f"{stem}.dat"
        dat.write_bytes(data)
        if flag is not None:
            text = flag_for(dat.name, data) if flag == "auto" else flag
            (folder / f"{stem}.ok").write_text(text)
        self.server.chown_to_user(self.root)
        return dat

    def settings(self, **overrides: object) -> SftpSettings:
        return SftpSettings(remote_root=str(self.root), **overrides)  # type: ignore[arg-type]


def key_credentials(server: SshdServer, key: Path | None = None) -> SftpCredentials:
    return SftpCredentials(
        host=server.host,
        port=server.port,
        user=server.user,
        key_file=key or server.ed25519_key,
        known_hosts=server.known_hosts,
    )


@pytest.fixture
def remote(sshd_server: SshdServer, request: pytest.FixtureRequest) -> Remote:
    root = sshd_server.remote_root / request.node.name.replace("[", "_").replace("]", "")
    root.mkdir()
    sshd_server.chown_to_user(root)
    return Remote(sshd_server, root)


def fetcher(remote: Remote, **kwargs: object) -> SftpFetcher:
    settings = remote.settings(max_parallel=kwargs.pop("max_parallel", 4))
    credentials = kwargs.pop("credentials", None) or key_credentials(remote.server)
    return SftpFetcher(settings, credentials, poll_seconds=0.2, **kwargs)  # type: ignore[arg-type]


def rtl_cust_line(i: int) -> bytes:
    return f"{i:016d}P{'NAME':<60}01{'1101011990010112' + str(i % 10) + 'X':<32}".encode() + b"\r\n"


def sample_day(remote: Remote) -> dict[str, bytes]:
    """A small day: two branches (a province and one of its cities) and the rates."""
    files: dict[str, bytes] = {}
    for branch in ("ZJ", "NB"):
        cust = b"".join(rtl_cust_line(i) for i in range(50))
        crd = b"".join(f"C{i}|P|Name{i}|I|ID{i}|M|19800101|138|addr|310000|{branch}\n".encode()
                       for i in range(30))  # fmt: skip
        for stem, data in (
            (f"RTL_CUST_{branch}_{D}", cust),
            (f"CRD_CUST_{branch}_{D}", crd),
            (f"LON_CUST_{branch}_{D}", b""),  # nothing to send: empty file and its flag
        ):
            remote.put(branch, stem, data)
            files[f"{D}/{branch}/{stem}.dat"] = data
    rates = f"USD|712.35|{D}\nJPY|4.7321|{D}\n".encode()
    remote.put(None, f"FXR_RATE_{D}", rates)
    files[f"{D}/FXR_RATE_{D}.dat"] = rates
    return files


# -- full extraction -----------------------------------------------------------------


def test_full_extraction_mirrors_the_server_and_skips_what_is_landed(
    remote: Remote, tmp_path: Path
) -> None:
    files = sample_day(remote)
    landing = tmp_path / "landing"
    report = fetcher(remote).fetch_date(D, ["ZJ", "NB"], landing, deadline=now())

    assert {f.path.relative_to(landing).as_posix() for f in report.files} == set(files)
    for rel, data in files.items():
        assert (landing / rel).read_bytes() == data
        ok = (landing / rel).with_suffix(".ok")
        assert ok.read_text() == flag_for(Path(rel).name, data)
    assert {f.status for f in report.files} == {"downloaded"}
    assert not report.rejected and not report.missing
    # no temporary names left where later steps look
    assert not list(landing.rglob(f"{PARTIAL_DIR}/*"))
    assert sorted(p.suffix for p in (landing / D / "ZJ").iterdir() if p.is_file()) == [
        ".dat", ".dat", ".dat", ".ok", ".ok", ".ok",
    ]  # fmt: skip

    # second run: same flags, nothing downloaded again
    again = fetcher(remote).fetch_date(D, ["ZJ", "NB"], landing, deadline=now())
    assert {f.status for f in again.files} == {"unchanged"}
    assert again.bytes_transferred == 0


def test_expected_entities_and_parallel_sessions(remote: Remote, tmp_path: Path) -> None:
    """With `expected`, exactly those files are fetched; workers use one session each."""
    for system in ("RTL", "CRD", "LON", "FND"):
        remote.put("JS", f"{system}_CUSTCHG_JS_{D}", os.urandom(1_500_000).hex().encode() + b"\n")
    remote.put("JS", f"XXX_OTHER_JS_{D}", b"not asked for\n")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    sessions: list[str] = []
    threads: set[str] = set()
    fetch = fetcher(remote, max_parallel=3, progress=lambda *_: threads.add(
        threading.current_thread().name))  # fmt: skip
    connect = fetch.connect

    def counting_connect():
        sessions.append(threading.current_thread().name)
        return connect()

    fetch.connect = counting_connect  # type: ignore[method-assign]
    expected = {s: ["CUSTCHG"] for s in ("RTL", "CRD", "LON", "FND")}
    report = fetch.fetch_date(D, ["JS"], tmp_path, deadline=now(), expected=expected)

    assert len(report.files) == 5  # four systems + FXR_RATE
    assert not (tmp_path / D / "JS" / f"XXX_OTHER_JS_{D}.dat").exists()
    workers = [name for name in sessions if name.startswith("sftp")]
    assert len(workers) == 3 and len(set(workers)) == 3  # one session per worker thread
    assert len(threads) >= 2  # files really went in parallel


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
        original_open = paramiko.SFTPClient.open
        original_request = paramiko.SFTPClient._async_request  # type: ignore[attr-defined]

        def opening(client, filename, *args, **kwargs):
            handle = original_open(client, filename, *args, **kwargs)
            if str(filename).endswith("/" + name):
                handles.add((id(client), handle.handle))
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
    line = b"0123456789" * 9 + b"abcdefgh\r\n"  # 100 bytes
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


# -- flags, verification, re-sends ----------------------------------------------------------


def test_missing_flag_fails_at_the_deadline_naming_the_file(remote: Remote, tmp_path: Path) -> None:
    remote.put("ZJ", f"RTL_CUST_ZJ_{D}", b"".join(rtl_cust_line(i) for i in range(3)))
    remote.put("ZJ", f"CRD_CUST_ZJ_{D}", b"still being written", flag=None)  # no .ok yet
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    start = time.monotonic()
    with pytest.raises(FlagDeadlineError) as failed:
        fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, deadline=now() + timedelta(seconds=1))
    assert time.monotonic() - start >= 0.9  # it waited for the flag
    message = str(failed.value)
    assert f"{remote.root}/{D}/ZJ/CRD_CUST_ZJ_{D}.ok" in message
    assert failed.value.missing == [f"{remote.root}/{D}/ZJ/CRD_CUST_ZJ_{D}.ok"]
    # the .dat without its .ok was never read; the ready file was landed
    assert not (tmp_path / D / "ZJ" / f"CRD_CUST_ZJ_{D}.dat").exists()
    assert not (tmp_path / D / "ZJ" / PARTIAL_DIR / f"CRD_CUST_ZJ_{D}.dat").exists()
    assert (tmp_path / D / "ZJ" / f"RTL_CUST_ZJ_{D}.ok").exists()


def test_expected_file_never_sent_and_branch_folder_missing(remote: Remote, tmp_path: Path) -> None:
    remote.put("ZJ", f"RTL_CUST_ZJ_{D}", b"")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    with pytest.raises(FlagDeadlineError) as failed:
        fetcher(remote).fetch_date(
            D, ["ZJ", "SD"], tmp_path, deadline=now(), expected={"RTL": ["CUST", "ACCT"]}
        )
    assert failed.value.missing == [
        f"{remote.root}/{D}/ZJ/RTL_ACCT_ZJ_{D}.ok",
        f"{remote.root}/{D}/SD/RTL_CUST_SD_{D}.ok",
        f"{remote.root}/{D}/SD/RTL_ACCT_SD_{D}.ok",
    ]
    # a city branch (optional) without a folder is not reporting separately today
    remote.put("ZJ", f"RTL_ACCT_ZJ_{D}", b"")
    report = fetcher(remote).fetch_date(
        D, ["ZJ", "WZ"], tmp_path, now(), expected={"RTL": ["CUST", "ACCT"]}, optional=["WZ"]
    )
    assert len(report.files) == 3 and not (tmp_path / D / "WZ").exists()


def test_flag_arriving_while_waiting_is_picked_up(remote: Remote, tmp_path: Path) -> None:
    data = b"".join(rtl_cust_line(i) for i in range(5))
    dat = remote.put("ZJ", f"RTL_CUST_ZJ_{D}", data, flag=None)
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")

    def send_flag() -> None:
        dat.with_suffix(".ok").write_text(flag_for(dat.name, data))
        remote.server.chown_to_user(dat.with_suffix(".ok"))

    timer = threading.Timer(0.5, send_flag)
    timer.start()
    try:
        report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now() + timedelta(seconds=10))
    finally:
        timer.cancel()
    assert report.by_name()[dat.name].status == "downloaded"
    assert (tmp_path / D / "ZJ" / dat.name).read_bytes() == data


def test_listing_session_dropped_while_waiting_is_reopened(
    remote: Remote,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = b"".join(rtl_cust_line(i) for i in range(5))
    dat = remote.put("ZJ", f"RTL_CUST_ZJ_{D}", data, flag=None)
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    monkeypatch.setattr("extract.sftp.fetcher.time.sleep", lambda s: time_sleep(min(s, 0.2)))
    calls = {"n": 0}
    server = remote.server

    def drop_then_send(*_: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # between two looks: the link drops
            server.kill_sessions()
        if calls["n"] == 3:  # and later the flag arrives
            dat.with_suffix(".ok").write_text(flag_for(dat.name, data))
            server.chown_to_user(dat.with_suffix(".ok"))

    def listing(*args, **kwargs):
        drop_then_send()
        return list_date(*args, **kwargs)

    monkeypatch.setattr("extract.sftp.fetcher.list_date", listing)
    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now() + timedelta(seconds=20))
    assert (tmp_path / D / "ZJ" / dat.name).read_bytes() == data
    assert report.by_name()[dat.name].status == "downloaded"
    assert "listing failed" in caplog.text and calls["n"] >= 3


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


# -- pushing export files -------------------------------------------------------------------


def push_target(remote: Remote) -> Path:
    inbound = remote.root / "inbound"
    inbound.mkdir()
    remote.server.chown_to_user(inbound)
    return inbound


def test_push_uploads_verifies_and_renames(remote: Remote, tmp_path: Path) -> None:
    inbound = push_target(remote)
    data = b"".join(rtl_cust_line(i) for i in range(2000)) + b"no newline at the end"
    local = tmp_path / f"CRM_SCORE_ZJ_{D}.dat"
    local.write_bytes(data)
    with fetcher(remote).connect() as session:
        pushed = push_file(session.sftp, local, str(inbound), control_sum="12.50", checksum=True)
    assert pushed.remote_path == f"{inbound}/{local.name}" and not pushed.replaced
    assert pushed.checksum_verified and pushed.sha256 == hashlib.sha256(data).hexdigest()
    assert (inbound / local.name).read_bytes() == data
    assert (
        inbound / f"CRM_SCORE_ZJ_{D}.ok"
    ).read_text() == f"{local.name}|{len(data)}|2001|12.50\n"
    assert sorted(p.name for p in inbound.iterdir()) == [local.name, f"CRM_SCORE_ZJ_{D}.ok"]


def test_push_interrupted_leaves_nothing_under_the_final_name_and_re_push_replaces(
    remote: Remote, tmp_path: Path
) -> None:
    inbound = push_target(remote)
    stem = f"CRM_SCORE_ZJ_{D}"
    local = tmp_path / f"{stem}.dat"
    first = b"".join(rtl_cust_line(i) for i in range(100))
    local.write_bytes(first)
    with fetcher(remote).connect() as session:
        push_file(session.sftp, local, str(inbound))

    # a second version, 30 MiB; the link drops after the first 8 MiB block was sent
    second = b"0123456789" * 9 + b"abcdefgh\r\n"
    second *= 30 * 1024 * 1024 // len(second)
    local.write_bytes(second)
    server = remote.server
    killed = {"n": 0}

    def cut(name: str, sent: int, total: int) -> None:
        if not killed["n"]:
            killed["n"] = server.kill_sessions()

    session = fetcher(remote).connect()
    with session, pytest.raises((OSError, EOFError, paramiko.SSHException)):
        push_file(session.sftp, local, str(inbound), progress=cut)
    assert killed["n"] >= 1
    # the first version is still published, whole, with its own flag
    assert (inbound / local.name).read_bytes() == first
    assert (inbound / f"{stem}.ok").read_text() == flag_for(local.name, first)
    assert (inbound / f".{local.name}.part").stat().st_size < len(second)

    with fetcher(remote).connect() as session:
        pushed = push_file(session.sftp, local, str(inbound), checksum=True)
    assert pushed.replaced and pushed.size == len(second)
    assert (
        hashlib.sha256((inbound / local.name).read_bytes()).digest()
        == hashlib.sha256(second).digest()
    )
    assert (inbound / f"{stem}.ok").read_text() == flag_for(local.name, second)
    assert sorted(p.name for p in inbound.iterdir()) == [local.name, f"{stem}.ok"]


def test_push_never_writes_through_a_link_planted_at_the_temporary_name(
    remote: Remote, tmp_path: Path
) -> None:
    inbound = push_target(remote)
    victim = remote.root / "victim.txt"
    victim.write_text("must stay\n")
    remote.server.chown_to_user(victim)
    local = tmp_path / f"CRM_SCORE_ZJ_{D}.dat"
    local.write_bytes(b"a|b\n")
    (inbound / f".{local.name}.part").symlink_to(victim)
    (inbound / f".CRM_SCORE_ZJ_{D}.ok.part").symlink_to(victim)
    with fetcher(remote).connect() as session:
        push_file(session.sftp, local, str(inbound))
    assert victim.read_text() == "must stay\n"
    assert (inbound / local.name).read_bytes() == b"a|b\n"
    assert not (inbound / local.name).is_symlink()
    assert sorted(p.name for p in inbound.iterdir()) == [local.name, f"CRM_SCORE_ZJ_{D}.ok"]


def test_push_refuses_bad_names_and_linked_folders(remote: Remote, tmp_path: Path) -> None:
    inbound = push_target(remote)
    (remote.root / "linked").symlink_to(inbound)
    local = tmp_path / f"CRM_SCORE_ZJ_{D}.dat"
    local.write_bytes(b"x\n")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"x\n")
    with fetcher(remote).connect() as session:
        with pytest.raises(UnsafeRemoteName, match="link"):
            push_file(session.sftp, local, str(remote.root / "linked"))
        with pytest.raises(UnsafeRemoteName):
            push_file(session.sftp, local, f"{inbound}/../inbound")
        with pytest.raises(UnsafeRemoteName):
            push_file(session.sftp, other, str(inbound))
    assert not list(inbound.iterdir())


# -- host keys, authentication, credentials -----------------------------------------------


def test_unknown_host_key_is_refused(remote: Remote, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    server = remote.server
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=empty,
    )  # fmt: skip
    with pytest.raises(HostKeyError) as refused:
        fetcher(remote, credentials=credentials).fetch_date(D, ["ZJ"], tmp_path, now())
    message = str(refused.value)
    assert "not in the known_hosts file" in message and str(empty) in message
    assert "SHA256:" in message and "Confirm this fingerprint" in message
    assert not (tmp_path / D).exists()


def test_changed_host_key_is_refused(remote: Remote, tmp_path: Path) -> None:
    server = remote.server
    other = paramiko.Ed25519Key.from_private_key_file(str(server.ed25519_key))  # not the host's
    known = tmp_path / "known_hosts"
    known.write_text(f"[{server.host}]:{server.port} ssh-ed25519 {other.get_base64()}\n")
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=known,
    )  # fmt: skip
    with pytest.raises(HostKeyError, match="CHANGED.*ssh-keygen -R"):
        fetcher(remote, credentials=credentials).fetch_date(D, ["ZJ"], tmp_path, now())


def test_missing_known_hosts_file_is_refused(remote: Remote, tmp_path: Path) -> None:
    server = remote.server
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        key_file=server.ed25519_key, known_hosts=tmp_path / "nope",
    )  # fmt: skip
    with pytest.raises(HostKeyError, match="not found"):
        fetcher(remote, credentials=credentials).connect()


@pytest.mark.parametrize("method", ["password", "rsa"])
def test_password_and_rsa_key_authentication(remote: Remote, tmp_path: Path, method: str) -> None:
    server = remote.server
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")
    remote.put("BJ", f"FND_CUST_BJ_{D}", "F1|P|张三|01|X|138|北京|BJ\n".encode())
    if method == "password":
        credentials = SftpCredentials(
            host=server.host, port=server.port, user=server.user,
            password=server.password, known_hosts=server.known_hosts,
        )  # fmt: skip
    else:
        credentials = key_credentials(server, server.rsa_key)
    report = fetcher(remote, credentials=credentials).fetch_date(D, ["BJ"], tmp_path, now())
    assert len(report.files) == 2
    assert f"Accepted {'password' if method == 'password' else 'publickey'}" in server.log()


def test_wrong_password_error_names_no_secret(remote: Remote) -> None:
    server = remote.server
    secret = "Wr0ng-but-secret"
    credentials = SftpCredentials(
        host=server.host, port=server.port, user=server.user,
        password=secret, known_hosts=server.known_hosts,
    )  # fmt: skip
    assert secret not in repr(credentials)
    with pytest.raises(SftpAuthError) as refused:
        fetcher(remote, credentials=credentials).connect()
    assert secret not in str(refused.value) and server.user in str(refused.value)


def test_credentials_from_the_environment_outside_airflow(tmp_path: Path) -> None:
    env = {
        "CRM_SFTP_HOST": "127.0.0.1",
        "CRM_SFTP_PORT": "2222",
        "CRM_SFTP_USER": "crm",
        "CRM_SFTP_KEY_FILE": str(tmp_path / "id_ed25519"),
        "CRM_SFTP_PASSWORD": "s3cret-pass",
        "CRM_SFTP_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
    }
    credentials = from_environment("crm_core_sftp", env)
    assert (credentials.host, credentials.port, credentials.user) == ("127.0.0.1", 2222, "crm")
    assert credentials.key_file == tmp_path / "id_ed25519"
    assert credentials.known_hosts == tmp_path / "known_hosts"
    assert "s3cret-pass" not in repr(credentials)


# -- names that would escape the landing zone ---------------------------------------------


def test_links_and_traversal_names_are_refused(remote: Remote, tmp_path: Path) -> None:
    outside = remote.root / "secret.txt"
    outside.write_text("not for the landing zone\n")
    folder = remote.root / D / "ZJ"
    folder.mkdir(parents=True)
    link = folder / f"RTL_CUST_ZJ_{D}.dat"
    link.symlink_to(outside)
    (folder / f"RTL_CUST_ZJ_{D}.ok").write_text(f"RTL_CUST_ZJ_{D}.dat|25|1|0.00\n")
    # a flag whose data-file name climbs out of the folder
    remote.put("ZJ", f"CRD_CUST_ZJ_{D}", b"x|y\n", flag="../../../evil.dat|4|1|0.00\n")
    remote.put(None, f"FXR_RATE_{D}", b"USD|712.35|20261124\n")

    report = fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())

    assert "symbolic link" in report.rejected[str(link)]
    assert "'..'" in report.rejected[f"{folder}/CRD_CUST_ZJ_{D}.dat"]
    assert not (tmp_path / D / "ZJ" / link.name).exists()
    assert not list(tmp_path.rglob("evil.dat"))
    assert [f.name for f in report.files] == [f"FXR_RATE_{D}.dat"]


def test_linked_branch_folder_and_bad_codes_are_refused(remote: Remote, tmp_path: Path) -> None:
    (remote.root / D).mkdir()
    (remote.root / "elsewhere").mkdir()
    (remote.root / D / "ZJ").symlink_to(remote.root / "elsewhere")
    with pytest.raises(UnsafeRemoteName, match="link"):
        fetcher(remote).fetch_date(D, ["ZJ"], tmp_path, now())
    with pytest.raises(UnsafeRemoteName):
        fetcher(remote).fetch_date(D, ["../ZJ"], tmp_path, now())
    with pytest.raises(UnsafeRemoteName):
        fetcher(remote).fetch_date("../2026", ["ZJ"], tmp_path, now())


@pytest.mark.parametrize(
    "name", ["..", "../x.dat", "/etc/passwd", "a/b.dat", "x..dat", "..hidden.dat", "x\\y.dat"]
)
def test_unsafe_file_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeRemoteName):
        check_file_name(name)
    with pytest.raises(UnsafeRemoteName):
        inside(tmp_path, name)


def test_remote_root_must_be_absolute() -> None:
    with pytest.raises(UnsafeRemoteName):
        remote_dir("outbound", D, "ZJ")
    with pytest.raises(UnsafeRemoteName):
        remote_dir("/outbound/../etc", D, "ZJ")
    assert remote_dir("/outbound", D, "ZJ") == f"/outbound/{D}/ZJ"


@pytest.fixture(autouse=True)
def _no_leftover_sessions(sshd_server: SshdServer) -> Iterator[None]:
    """Every test closes the sessions it opened (workers and the control session)."""
    yield
    deadline = time.monotonic() + 5
    while sshd_server.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sshd_server.descendants(), "SFTP sessions left open by the test"
