"""The pipeline configured to take a night from the test sshd (and, optionally, to push
its export to the same sshd as the CRM data server): shared by the CLI and Airflow tests
of an SFTP night."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from common.paths import config_dir
from tests.servers.sshd import SshdServer


def sftp_source_config(
    server: SshdServer,
    remote_root: Path,
    configs: Path,
    flag_deadline_minutes: int,
    export_root: Path | None = None,
) -> Path:
    """A copy of config/ in `configs` whose source is `remote_root` on `server`
    (`crm_core_sftp`), and whose export goes to `export_root` on it (`crm_data_sftp`) when
    given; the files under both roots handed to the server's user. Returns `configs`."""
    server.chown_to_user(remote_root)
    shutil.copytree(config_dir(), configs)
    pipeline = yaml.safe_load((configs / "pipeline.yaml").read_text())
    pipeline["source"] = {
        "kind": "sftp",
        "sftp": {
            "connection": "crm_core_sftp",
            "remote_root": str(remote_root),
            "known_hosts": str(server.known_hosts),
            "max_parallel": 2,
            "flag_deadline_minutes": flag_deadline_minutes,
        },
    }
    if export_root is not None:
        shutil.rmtree(export_root, ignore_errors=True)
        export_root.mkdir()
        server.chown_to_user(export_root)
        pipeline["export"]["sftp"].update(
            {"connection": "crm_data_sftp", "remote_root": str(export_root),
             "known_hosts": str(server.known_hosts)}
        )  # fmt: skip
    (configs / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return configs
