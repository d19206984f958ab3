"""An SFTP-source night through Airflow (`dag.test()`) against the real sshd.

ZJ's files are on the server, one flag withheld: `wait_for_files` looks on the server,
defers, and its trigger (logged in with the Airflow connection) looks again until the flag
is put there; `fetch` then lands the files into the landing mirror, the steps publish and
`export` pushes the batch's files to the CRM data server (the same sshd, another folder).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from common import config
from crm_pipeline.sample import write_sample
from tests.dags.test_deferred_wait import Looks
from tests.dags.test_deferred_wait import counted as counted  # noqa: F401 - a fixture
from tests.extract.sftp_source import sftp_source_config
from tests.servers.sshd import SshdServer

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.sshd,
    pytest.mark.xdist_group("sshd"),
]
D = "20261124"


@pytest.fixture
def sftp_source(
    sshd_server: SshdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """ZJ's sample on the server; the pipeline configured for it, the login an Airflow
    connection (the DAG's own provider); the remote root returned."""
    remote_root = sshd_server.remote_root / "airflow_night"
    shutil.rmtree(remote_root, ignore_errors=True)
    write_sample(remote_root, date(2026, 11, 24), ["ZJ", "NB"], 60, 5)
    inbound = sshd_server.remote_root / "crm_inbound"  # the CRM data server (same sshd)
    configs = sftp_source_config(sshd_server, remote_root, tmp_path / "config", 1, inbound)
    monkeypatch.setenv("CRM_CONFIG_DIR", str(configs))
    for conn_id in ("AIRFLOW_CONN_CRM_CORE_SFTP", "AIRFLOW_CONN_CRM_DATA_SFTP"):
        monkeypatch.setenv(
            conn_id,
            f'{{"conn_type": "sftp", "host": "{sshd_server.host}", "port": {sshd_server.port},'
            f' "login": "{sshd_server.user}", "extra": {{"key_file": "{sshd_server.ed25519_key}",'
            f' "known_hosts": "{sshd_server.known_hosts}"}}}}',
        )
    for name in ("CRM_SFTP_HOST", "CRM_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    config.settings.cache_clear()
    yield remote_root
    config.settings.cache_clear()


def test_an_sftp_night_waits_on_the_server_fetches_and_publishes(
    airflow_db: str,
    crm_env: dict[str, str],
    sftp_source: Path,
    counted: Looks,
    tmp_path: Path,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from load.warehouse import Warehouse
    from tests.dags.conftest import DAGS
    from tests.dags.test_dag_runs import _states, _xcoms

    counted.province = "ZJ"
    flag = sftp_source / D / "NB" / f"CRD_ACCT_NB_{D}.ok"
    content = flag.read_bytes()
    flag.unlink()

    def put_back() -> None:
        counted.reached.wait(120)  # the sensor's look, then the trigger's, on the server
        flag.write_bytes(content)

    lander = threading.Thread(target=put_back, daemon=True)
    lander.start()
    landing = tmp_path / "mirror"
    dag = DagBag(dag_folder=str(DAGS)).dags["crm_initial_load"]
    run = dag.test(run_conf={"business_date": D, "provinces": ["ZJ"], "landing": str(landing)})
    lander.join()
    assert run.state == "success"
    assert counted.reached.is_set()
    assert _states(run, "province.publish") == {"ZJ": "success"}
    [fetched] = _xcoms(run, "province.fetch", "return_value")
    sent = [p for p in sftp_source.glob(f"{D}/*/*.dat")]  # the branches' files, not FX
    assert fetched["source"] == "sftp" and fetched["fetched"] >= len(sent) > 0
    for branch in ("ZJ", "NB"):
        for remote in (sftp_source / D / branch).glob("*.dat"):
            assert (landing / D / branch / remote.name).read_bytes() == remote.read_bytes()
    assert (
        Warehouse(crm_env["CRM_WAREHOUSE_URL"]).batch_status(date(2026, 11, 24), "ZJ", "initial")
        == "published"
    )
    # The export task pushed the batch's files to the CRM data server, byte for byte.
    [exported] = _xcoms(run, "province.export", "return_value")
    assert exported["status"] == "pushed", exported
    local = Path(exported["folder"])
    inbound = sftp_source.parent / "crm_inbound" / D / "ZJ"
    names = sorted(p.name for p in local.iterdir())
    assert names and sorted(p.name for p in inbound.iterdir()) == names
    for name in names:
        assert (inbound / name).read_bytes() == (local / name).read_bytes(), name
