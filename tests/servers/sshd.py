"""OpenSSH sshd fixture on 127.0.0.1.

The SFTP fetcher is tested against the real OpenSSH server the bank runs, not a paramiko
stub: host-key checking, authentication methods, window handling and a connection dying
mid-file only mean something against the real thing. The server gets its own host key, a
throw-away test user (`crmsftp`, created with useradd when missing: the suite runs as root)
with an Ed25519 key, an RSA key and a known password, and `internal-sftp` only.

If sshd cannot be started the fixture fails loudly; a test that needs it never skips.
`start_sshd` is also used by `bench/sftp_throughput.py`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers.procs import proc_stats

SSHD = "/usr/sbin/sshd"
TEST_USER = "crmsftp"
TEST_PASSWORD = "crm-test-Passw0rd"


class SshdStartError(RuntimeError):
    """sshd could not be started; the message carries its log."""


@dataclass
class SshdServer:
    """A running sshd and everything a client needs to reach it."""

    host: str
    port: int
    user: str
    password: str
    ed25519_key: Path
    rsa_key: Path
    known_hosts: Path
    host_key_pub: Path
    remote_root: Path
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def descendants(self) -> list[int]:
        """Pids of every process below the listener: the ones serving open sessions."""
        children: dict[int, list[int]] = {}
        for pid, fields in proc_stats():
            children.setdefault(int(fields[1]), []).append(pid)
        found: list[int] = []
        todo = [self.process.pid]
        while todo:
            for pid in children.get(todo.pop(), []):
                found.append(pid)
                todo.append(pid)
        return found

    def kill_sessions(self) -> int:
        """SIGKILL the sshd processes serving sessions (not the listener): a dropped link."""
        pids = self.descendants()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def chown_to_user(self, path: Path) -> None:
        """Give a file or tree made by the (root) test process to the test user."""
        entry = pwd.getpwnam(self.user)
        for current in [path, *(path.rglob("*") if path.is_dir() else [])]:
            os.lchown(current, entry.pw_uid, entry.pw_gid)

    def stop(self) -> None:
        self.kill_sessions()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _run(*args: str, stdin: str | None = None) -> None:
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SshdStartError(f"{' '.join(args)} failed: {result.stderr.strip()}")


def ensure_user(user: str = TEST_USER, password: str = TEST_PASSWORD) -> pwd.struct_passwd:
    """Create the test user if missing (needs root) and (re)set its password."""
    if os.geteuid() != 0:
        raise SshdStartError("the sshd fixture creates its test user and must run as root")
    try:
        pwd.getpwnam(user)
    except KeyError:
        try:
            _run("useradd", "--create-home", "--shell", "/usr/sbin/nologin", user)
        except SshdStartError:
            if user not in {entry.pw_name for entry in pwd.getpwall()}:
                raise
            # another xdist worker created it meanwhile
    _run("chpasswd", stdin=f"{user}:{password}\n")
    return pwd.getpwnam(user)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path, kind: str, comment: str) -> None:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "3072"]
    _run(*args)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until the listener answers with its SSH banner."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SshdStartError(f"sshd exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SshdStartError(f"sshd did not answer on port {port} in 15 s:\n{log_path.read_text()}")


def start_sshd(workdir: Path | None = None, user: str = TEST_USER) -> SshdServer:
    """Start `sshd -D -e -f <config>` on 127.0.0.1 on a free port with fresh keys.

    `workdir` is created world-traversable (0755) because the test user must reach its
    remote root inside it; the keys and config inside stay private to root.
    """
    if not Path(SSHD).exists():
        raise SshdStartError(f"{SSHD} not found: run `make system-deps` (openssh-server)")
    entry = ensure_user(user)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="crm-sshd-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir

    keys = workdir / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    host_key = keys / "ssh_host_ed25519_key"
    ed25519_key = keys / "client_ed25519"
    rsa_key = keys / "client_rsa"
    for path, kind in ((host_key, "ed25519"), (ed25519_key, "ed25519"), (rsa_key, "rsa")):
        if not path.exists():
            _keygen(path, kind, f"crm-test-{path.name}")

    authorized = workdir / "authorized_keys"
    authorized.write_text(
        (ed25519_key.with_suffix(".pub")).read_text() + (rsa_key.with_suffix(".pub")).read_text()
    )
    authorized.chmod(0o644)

    remote_root = workdir / "outbound"
    remote_root.mkdir(exist_ok=True)
    os.chown(remote_root, entry.pw_uid, entry.pw_gid)

    last_error: SshdStartError | None = None
    for _attempt in range(5):  # another process may grab the free port first
        port = _free_port()
        config = workdir / "sshd_config"
        config.write_text(
            f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {user}
AllowTcpForwarding no
X11Forwarding no
MaxStartups 100
MaxSessions 50
LogLevel INFO
Subsystem sftp internal-sftp
ForceCommand internal-sftp
"""
        )
        log_path = workdir / f"sshd-{port}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            _wait_ready(port, process, log_path)
        except SshdStartError as exc:
            last_error = exc
            if process.poll() is None:
                process.kill()
                process.wait()
            continue
        host_pub = host_key.with_suffix(".pub")
        key_type, key_data = host_pub.read_text().split()[:2]
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
        return SshdServer(
            host="127.0.0.1",
            port=port,
            user=user,
            password=TEST_PASSWORD,
            ed25519_key=ed25519_key,
            rsa_key=rsa_key,
            known_hosts=known_hosts,
            host_key_pub=host_pub,
            remote_root=remote_root,
            workdir=workdir,
            log_path=log_path,
            process=process,
        )
    raise last_error or SshdStartError("sshd did not start")


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdServer]:
    """A real OpenSSH server for the session; fails (never skips) when it cannot start."""
    try:
        server = start_sshd()
    except SshdStartError as exc:
        pytest.fail(f"cannot start the OpenSSH test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
