"""push_file against a real sshd: upload, verify, rename; interrupted and re-pushed uploads;
links and bad names refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import paramiko
import pytest

from extract.sftp import UnsafeRemoteName
from extract.sftp.push import push_file
from tests.extract.sftp.helpers import (
    D,
    Remote,
    fetcher,
    flag_for,
    rtl_cust_line,
)

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]


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
