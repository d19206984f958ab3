"""SFTP download throughput: the pipeline's fetcher against OpenSSH's `sftp` client.

Starts a real sshd on 127.0.0.1 exactly as the test fixture does (tests/servers/sshd.py),
puts a 1 GiB dump with its `.ok` in its remote root (reused across runs in --workdir), then
downloads it alternately with `SftpFetcher.fetch_date` and with `sftp -b` (same key, same
known_hosts), and prints MB/s (10^6 bytes) for both and their ratio per run, the best of
--repeat runs, and the pooled ratio (total sftp time / total fetcher time), which is less
sensitive to one lucky run on a shared machine.

The compared fetcher run includes everything the fetcher does for a file (listing, flag,
download to .partial, split over up to --range-connections connections (default 3, as
the fetcher; 1 = one stream), line count, fsync, rename) except the control-sum check of
extract/verify.py, which parses the whole file with the layouts and is timed apart
(--with-control-sum) since OpenSSH's client does nothing of the kind.

    .venv/bin/python bench/sftp_throughput.py [--size-mib 1024] [--repeat 3]
        [--range-connections 3]

Needs root (the fixture creates its test user) and openssh-server / openssh-client.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.config import SftpSettings  # noqa: E402
from extract.sftp import SftpCredentials, SftpFetcher  # noqa: E402
from tests.servers.sshd import SshdServer, start_sshd  # noqa: E402

DATE = "20261124"
BRANCH = "ZJ"
NAME = f"RTL_TXN_{BRANCH}_{DATE}"
LINE = 100  # bytes per line, LF included


def make_dump(server: SshdServer, size: int) -> Path:
    """A `size`-byte delimited dump (100-byte lines) and its flag; reused when present."""
    folder = server.remote_root / DATE / BRANCH
    folder.mkdir(parents=True, exist_ok=True)
    dat, ok = folder / f"{NAME}.dat", folder / f"{NAME}.ok"
    lines = size // LINE
    if not (dat.exists() and dat.stat().st_size == lines * LINE and ok.exists()):
        block_lines = 10_000
        with dat.open("wb") as out:
            written = 0
            while written < lines:
                count = min(block_lines, lines - written)
                chunk = b"".join(
                    f"T{written + i:015d}|6222{(written + i) * 7919 % 10**12:012d}|{DATE}|"
                    f"{(written + i) % 86400:06d}|D|{(written + i) % 100000}.00|CNY|ATM".ljust(
                        LINE - 1, "x"
                    ).encode()
                    + b"\n"
                    for i in range(count)
                )
                out.write(chunk)
                written += count
        ok.write_text(f"{NAME}.dat|{lines * LINE}|{lines}|0.00\n")
    fxr = server.remote_root / DATE / f"FXR_RATE_{DATE}"
    rate = f"USD|712.35|{DATE}\n".encode()
    fxr.with_suffix(".dat").write_bytes(rate)
    fxr.with_suffix(".ok").write_text(f"FXR_RATE_{DATE}.dat|{len(rate)}|1|0.00\n")
    server.chown_to_user(server.remote_root)
    return dat


def time_fetcher(
    server: SshdServer, out: Path, control_sum: bool = False, range_connections: int = 3
) -> float:
    shutil.rmtree(out, ignore_errors=True)
    credentials = SftpCredentials(
        host=server.host,
        port=server.port,
        user=server.user,
        key_file=server.ed25519_key,
        known_hosts=server.known_hosts,
    )
    settings = SftpSettings(remote_root=str(server.remote_root), max_parallel=4)
    fetcher = SftpFetcher(
        settings,
        credentials,
        verify_control_sum=control_sum,
        range_connections=range_connections,
    )
    start = time.perf_counter()
    fetcher.fetch_date(
        DATE, [BRANCH], out, deadline=datetime.now().astimezone(), expected={"RTL": ["TXN"]}
    )
    return time.perf_counter() - start


def time_openssh(server: SshdServer, remote: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = [
        "sftp", "-q", "-b", "-",
        "-i", str(server.ed25519_key),
        "-P", str(server.port),
        "-o", f"UserKnownHostsFile={server.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        f"{server.user}@{server.host}",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(
        command, input=f"get {remote} {out / remote.name}\n", text=True, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if (out / remote.name).stat().st_size != remote.stat().st_size:
        raise SystemExit("sftp client produced a file of the wrong size")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crm-sftp-bench"))
    parser.add_argument("--out", type=Path, default=None, help="download folder (local disk)")
    parser.add_argument(
        "--range-connections",
        type=int,
        default=3,
        help="connections a large file is split over (1: one stream, as before)",
    )
    parser.add_argument(
        "--with-control-sum", action="store_true", help="also time one fetch with extract.verify"
    )
    args = parser.parse_args()
    server = start_sshd(args.workdir)
    out = args.out or args.workdir / "downloads"
    try:
        remote = make_dump(server, args.size_mib * 1024 * 1024)
        size = remote.stat().st_size
        print(
            f"file: {size} bytes ({size / 2**30:.2f} GiB), sshd on port {server.port}, "
            f"fetcher split over up to {args.range_connections} connection(s), "
            f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs"
        )
        ours: list[float] = []
        theirs: list[float] = []
        for run in range(args.repeat):
            theirs.append(time_openssh(server, remote, out / "openssh"))
            ours.append(
                time_fetcher(server, out / "fetcher", range_connections=args.range_connections)
            )
            print(
                f"run {run + 1}: fetcher {size / ours[-1] / 1e6:7.1f} MB/s   "
                f"openssh sftp {size / theirs[-1] / 1e6:7.1f} MB/s   "
                f"ratio {theirs[-1] / ours[-1]:.2f}   load {os.getloadavg()[0]:.1f}"
            )
        best_ours, best_theirs = size / min(ours) / 1e6, size / min(theirs) / 1e6
        print(f"best: fetcher {best_ours:.1f} MB/s, openssh sftp {best_theirs:.1f} MB/s, "
              f"ratio {best_ours / best_theirs:.2f}")  # fmt: skip
        pooled = sum(theirs) / sum(ours)
        print(f"pooled (total time of all runs): ratio {pooled:.2f}")
        if args.with_control_sum:
            full = time_fetcher(server, out / "fetcher", control_sum=True)
            print(f"fetcher with extract.verify control sum: {size / full / 1e6:.1f} MB/s")
    finally:
        server.stop()
        shutil.rmtree(out, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
