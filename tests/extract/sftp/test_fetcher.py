"""SftpFetcher.fetch_date against a real sshd: mirroring a day, parallel sessions, waiting
for flags until the deadline, the listing session reopened after a dropped link.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from extract.sftp import FlagDeadlineError
from extract.sftp.listing import list_date
from extract.sftp.names import PARTIAL_DIR
from tests.extract.sftp.helpers import (
    D,
    Remote,
    fetcher,
    flag_for,
    now,
    rtl_cust_line,
    sample_day,
)

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]

time_sleep = time.sleep  # the real one, for patched sleeps that still wait a little


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


# -- waiting for flags ----------------------------------------------------------


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
