"""Helpers of the SFTP tests: one test's remote root on the real sshd
(tests/servers/sshd.py) and the small dumps written into it.

Each test writes its own small dumps (lines + a flag with the right bytes and line count;
control sum 0.00, as for files without a control column) under its own folder of the
server's remote root, so the tests do not see each other's files.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from common.config import SftpSettings
from extract.sftp import SftpCredentials, SftpFetcher
from tests.servers.sshd import SshdServer

D = "20261124"


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
