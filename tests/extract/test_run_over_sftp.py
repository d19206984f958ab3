"""The whole initial load with the SFTP source: fetch from a real sshd, then load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.sample import write_sample
from tests.extract.sftp_source import sftp_source_config
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.sshd, pytest.mark.xdist_group("sshd")]
D = "20261124"


def test_run_with_sftp_source_fetches_verifies_and_publishes(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    remote_root = sshd_server.remote_root / "run_over_sftp"
    write_sample(remote_root, date(2026, 11, 24), ["ZJ", "NB"], 60, 5)
    # A truncated file in another province's folder: refused, that province not published.
    write_sample(tmp_path / "gd", date(2026, 11, 24), ["GD"], 40, 6)
    shutil.copytree(tmp_path / "gd" / D / "GD", remote_root / D / "GD")
    broken = remote_root / D / "GD" / f"LON_ACCT_GD_{D}.dat"
    broken.write_bytes(broken.read_bytes()[:-30])
    configs = sftp_source_config(sshd_server, remote_root, tmp_path / "config", 0)
    # A clean environment: earlier in-process DAG tests leave AIRFLOW_CTX_* behind, which
    # would make the fetcher look for an Airflow connection instead of CRM_SFTP_*.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CTX_")},
        "CRM_CONFIG_DIR": str(configs),
        "CRM_SFTP_HOST": sshd_server.host,
        "CRM_SFTP_PORT": str(sshd_server.port),
        "CRM_SFTP_USER": sshd_server.user,
        "CRM_SFTP_KEY_FILE": str(sshd_server.ed25519_key),
        "CRM_SFTP_KNOWN_HOSTS": str(sshd_server.known_hosts),
    }
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    landing = tmp_path / "landing"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_pipeline.cli",
            "run",
            "--date",
            D,
            "--mode",
            "initial",
            "--landing",
            str(landing),
            "--province",
            "ZJ,GD",
            "--warehouse",
            url,
            "--staging",
            str(tmp_path / "staging"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"LON_ACCT_GD_{D}.dat" in proc.stdout  # the summary names the refused file
    # ZJ and its city landed byte for byte and were published; GD's bad file never landed.
    for name in ("RTL_ACCT_ZJ", "FND_HOLD_NB"):
        landed = landing / D / name[-2:] / f"{name}_{D}.dat"
        assert landed.read_bytes() == (remote_root / D / name[-2:] / landed.name).read_bytes()
    assert not (landing / D / "GD" / broken.name).exists()
    engine = create_engine(url)
    with engine.connect() as conn:
        published = (
            conn.execute(text("select province from crm_load_batch where status = 'published'"))
            .scalars()
            .all()
        )
    engine.dispose()
    assert published == ["ZJ"]
    assert sshd_server.password not in proc.stdout + proc.stderr
