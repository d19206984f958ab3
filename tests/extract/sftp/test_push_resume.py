"""Resumed pushes against a real sshd: a push cut off midway continues from the bytes the
server kept once they are proven to be the local file's first bytes; a partial file with
other bytes, or longer, is restarted; several files are all verified before any is put in
place, and the flags come last.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from extract.flag import Flag, parse_flag
from extract.sftp import PushVerifyError, SftpError
from extract.sftp.deliver import deliver
from extract.sftp.push import push_files
from tests.extract.sftp.helpers import D, Remote, fetcher, flag_for, key_credentials

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
    pytest.mark.usefixtures("no_leftover_sessions"),
]
MIB = 1024 * 1024


def big(size: int, seed: int = 0) -> bytes:
    """`size` bytes of lines that differ along the file (a shifted copy would not match)."""
    line_count = size // 40 + 1
    data = b"".join(f"{seed:04d}|{i:012d}|{i * 7919 % 1000003:019d}\n".encode()
                    for i in range(line_count))  # fmt: skip
    return data[:size]


def local_file(tmp_path: Path, data: bytes, stem: str = f"CRM_ACCT_ZJ_{D}") -> tuple[Path, Flag]:
    path = tmp_path / f"{stem}.dat"
    path.write_bytes(data)
    return path, parse_flag(flag_for(path.name, data), "test")


def inbound(remote: Remote) -> Path:
    folder = remote.root / "inbound"
    folder.mkdir()
    remote.server.chown_to_user(folder)
    return folder


def plant_partial(remote: Remote, folder: Path, name: str, data: bytes) -> Path:
    part = folder / f".{name}.part"
    part.write_bytes(data)
    remote.server.chown_to_user(part)
    return part


def test_a_push_cut_off_midway_is_resumed_by_the_next_attempt(
    remote: Remote, tmp_path: Path
) -> None:
    data = big(30 * MIB)
    local, flag = local_file(tmp_path, data)
    server = remote.server
    killed: dict[str, int] = {"sessions": 0}
    seen: list[int] = []

    def cut_once(name: str, sent: int, total: int) -> None:
        seen.append(sent)
        if not killed["sessions"]:
            killed["sessions"] = server.kill_sessions()  # the link drops after 8 MiB

    pushed = deliver(
        key_credentials(server), server.known_hosts, [(local, flag)], str(remote.root), D, "ZJ",
        checksum=True, attempts=2, progress=cut_once,
    )  # fmt: skip
    assert killed["sessions"] >= 1
    [one] = pushed
    # the second attempt kept what the first one had written, and sent only the rest
    assert 0 < one.resumed_from < len(data)
    assert min(seen[1:]) > one.resumed_from
    folder = remote.root / D / "ZJ"
    assert (
        hashlib.sha256((folder / local.name).read_bytes()).digest() == hashlib.sha256(data).digest()
    )
    assert (folder / f"CRM_ACCT_ZJ_{D}.ok").read_text() == flag_for(local.name, data)
    assert sorted(p.name for p in folder.iterdir()) == [local.name, f"CRM_ACCT_ZJ_{D}.ok"]


def test_a_partial_file_with_the_right_prefix_is_continued(remote: Remote, tmp_path: Path) -> None:
    folder = inbound(remote)
    data = big(12 * MIB + 12345)
    local, flag = local_file(tmp_path, data)
    plant_partial(remote, folder, local.name, data[: 5 * MIB + 7])
    with fetcher(remote).connect() as session:
        [one] = push_files(session.sftp, [(local, flag)], str(folder))
    assert one.resumed_from == 5 * MIB + 7
    assert (folder / local.name).read_bytes() == data


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(lambda data: data[:3 * MIB] + b"X" + data[3 * MIB + 1 : 6 * MIB], id="corrupt"),
        pytest.param(lambda data: data + b"more than the local file\n", id="longer"),
        pytest.param(lambda data: big(4 * MIB, seed=1), id="another-file"),
    ],
)  # fmt: skip
def test_a_partial_file_that_is_not_a_prefix_is_restarted(
    remote: Remote, tmp_path: Path, partial: object
) -> None:
    folder = inbound(remote)
    data = big(9 * MIB)
    local, flag = local_file(tmp_path, data)
    plant_partial(remote, folder, local.name, partial(data))  # type: ignore[operator]
    with fetcher(remote).connect() as session:  # no read-back: the prefix check alone
        [one] = push_files(session.sftp, [(local, flag)], str(folder), checksum=False)
    assert one.resumed_from == 0
    assert (folder / local.name).read_bytes() == data


def test_every_file_is_verified_before_any_is_put_in_place(remote: Remote, tmp_path: Path) -> None:
    folder = inbound(remote)
    first, first_flag = local_file(tmp_path, b"a|1\nb|2\n", f"CRM_CUST_ZJ_{D}")
    second, _ = local_file(tmp_path, b"x|1\n", f"CRM_ACCT_ZJ_{D}")
    wrong = parse_flag(f"{second.name}|4|2|0.00", "test")  # says 2 records, the file has 1
    with (
        fetcher(remote).connect() as session,
        pytest.raises(PushVerifyError, match="1 records, flag says 2"),
    ):
        push_files(session.sftp, [(first, first_flag), (second, wrong)], str(folder))
    # the first file was uploaded and verified, but nothing is under a final name
    assert [p.name for p in folder.iterdir()] == [f".{first.name}.part"]


def test_a_missing_remote_root_is_one_line_not_retried(remote: Remote, tmp_path: Path) -> None:
    local, flag = local_file(tmp_path, b"a|1\n")
    server = remote.server
    with pytest.raises(SftpError, match=r"refused by the server: FileNotFoundError.*remote_root"):
        deliver(key_credentials(server), server.known_hosts, [(local, flag)],
                str(remote.root / "missing"), D, "ZJ", attempts=3)  # fmt: skip
    assert list(remote.root.iterdir()) == []
