"""The `export` task against a real sshd: a published batch's files land on the CRM data
server under `{remote_root}/{D}/{P}/`, byte for byte, with their flags; the credentials
come from the provider asked for the configured connection id; refusals fail or skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common import config
from crm_pipeline.cli import main
from crm_pipeline.tasks.export import export_province
from crm_pipeline.tasks.failures import ProvinceFailed
from extract.sftp.credentials import SftpCredentials
from load import Warehouse
from tests.extract.sftp.helpers import key_credentials
from tests.load.factory import DAY2, make_batch, people
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.sshd, pytest.mark.xdist_group("sshd")]


@pytest.fixture
def crm_server(sshd_server: SshdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A remote root on the sshd as `export.sftp.remote_root`, a SQLite warehouse and an
    export folder in tmp_path, passed the way the task reads them."""
    root = sshd_server.remote_root / f"crm-{tmp_path.name}"
    root.mkdir()
    sshd_server.chown_to_user(root)
    real = config.settings()
    target = real.export.sftp.model_copy(update={"remote_root": str(root)})
    patched = real.model_copy(update={"export": real.export.model_copy(update={"sftp": target})})
    monkeypatch.setattr(config, "settings", lambda directory=None: patched)
    monkeypatch.setenv("CRM_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("CRM_EXPORT_DIR", str(tmp_path / "export"))
    return root


def provider_for(server: SshdServer, asked: list[str]):  # type: ignore[no-untyped-def]
    def provide(connection_id: str) -> SftpCredentials:
        asked.append(connection_id)
        return key_credentials(server)

    return provide


def test_export_province_pushes_the_files_to_the_crm_server(
    crm_server: Path, sshd_server: SshdServer, tmp_path: Path
) -> None:
    warehouse = Warehouse()
    warehouse.upgrade()
    warehouse.write_batch(make_batch(people(8)))
    asked: list[str] = []
    summary = export_province("2026-11-24", "ZJ", provider=provider_for(sshd_server, asked))
    assert asked == ["crm_data_sftp"]  # config/pipeline.yaml's connection id
    assert summary["status"] == "pushed" and summary["files"] == "5"
    local = tmp_path / "export" / "20261124" / "ZJ"
    remote = crm_server / "20261124" / "ZJ"
    assert summary["remote"] == str(remote)
    names = sorted(p.name for p in local.iterdir())
    assert len(names) == 10 and sorted(p.name for p in remote.iterdir()) == names
    for name in names:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    assert summary["bytes"] == str(
        sum((local / n).stat().st_size for n in names if n.endswith(".dat"))
    )

    # the next day's batch: the old date is skipped (its image is gone), the new one pushed
    warehouse.write_batch(make_batch(people(9), business_date=DAY2, mode="daily"))
    skipped = export_province("20261124", "ZJ", provider=provider_for(sshd_server, asked))
    assert skipped["status"] == "skipped" and "export 20261125 instead" in skipped["reason"]
    pushed = export_province("20261125", "ZJ", provider=provider_for(sshd_server, asked))
    assert pushed["status"] == "pushed" and pushed["mode"] == "daily"
    assert (crm_server / "20261125" / "ZJ" / "CRM_BATCH_ZJ_20261125.ok").is_file()
    warehouse.dispose()


def test_an_unpublished_batch_fails_the_task_and_pushes_nothing(
    crm_server: Path, sshd_server: SshdServer
) -> None:
    warehouse = Warehouse()
    warehouse.upgrade()
    warehouse.dispose()
    asked: list[str] = []
    with pytest.raises(ProvinceFailed, match="ZJ: export failed: ZJ 20261124: no batch"):
        export_province("20261124", "ZJ", provider=provider_for(sshd_server, asked))
    assert asked == [] and list(crm_server.iterdir()) == []


def test_the_command_line_pushes_with_the_export_servers_variables(
    crm_server: Path,
    sshd_server: SshdServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    warehouse = Warehouse()
    warehouse.upgrade()
    warehouse.write_batch(make_batch(people(4)))
    warehouse.dispose()
    args = ["export", "--date", "20261124", "--province", "ZJ", "--push"]
    monkeypatch.setenv("CRM_SFTP_HOST", "file-exchange.invalid")  # the other server's: unused
    assert main(args) == 1
    assert "set CRM_EXPORT_SFTP_HOST and CRM_EXPORT_SFTP_USER" in capsys.readouterr().err
    for name, value in (("HOST", sshd_server.host), ("PORT", str(sshd_server.port)),
                        ("USER", sshd_server.user), ("KEY_FILE", str(sshd_server.ed25519_key)),
                        ("KNOWN_HOSTS", str(sshd_server.known_hosts))):  # fmt: skip
        monkeypatch.setenv(f"CRM_EXPORT_SFTP_{name}", value)
    assert main(args) == 0
    out = capsys.readouterr().out
    remote = crm_server / "20261124" / "ZJ"
    assert f"pushed {remote}/CRM_BATCH_ZJ_20261124.dat (SHA-256 verified)" in out
    assert len(list(remote.iterdir())) == 10
