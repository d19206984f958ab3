"""dags/staging_connection.py: an Airflow connection as the staging store's credentials."""

from __future__ import annotations

import os

import pytest
from staging_connection import export_staging_credentials  # dags/ is on sys.path (conftest)

from common.errors import PipelineError
from common.staging import StagingArea
from tests.servers.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedServer

pytestmark = [pytest.mark.airflow]
AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION")


def _connection(monkeypatch: pytest.MonkeyPatch, name: str, endpoint: str, secret: str) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{name.upper()}",
        f'{{"conn_type": "aws", "login": "{ACCESS_KEY}", "password": "{secret}",'
        f' "extra": {{"endpoint_url": "{endpoint}", "region_name": "us-east-1"}}}}',
    )
    monkeypatch.setenv("CRM_STAGING_CONNECTION", name)
    for variable in AWS:
        monkeypatch.setenv(variable, "from-the-environment")


def test_no_connection_named_leaves_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_STAGING_CONNECTION", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    assert export_staging_credentials() == ""
    assert os.environ["AWS_ACCESS_KEY_ID"] == "mine"


def test_an_undefined_connection_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_STAGING_CONNECTION", "crm_no_such_store")
    with pytest.raises(PipelineError, match="'crm_no_such_store'.*cannot be read"):
        export_staging_credentials()


@pytest.mark.s3
@pytest.mark.xdist_group("s3")
def test_the_connection_reaches_the_store(
    seaweedfs: SeaweedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    """The connection's credentials replace the environment's and open the store."""
    monkeypatch.setenv("CRM_STAGING_SCRATCH", str(tmp_path))
    _connection(monkeypatch, "crm_staging_test", seaweedfs.endpoint, SECRET_KEY)
    assert export_staging_credentials() == "crm_staging_test"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    area = StagingArea.open(f"s3://{BUCKET}/connection")
    area.store.check()
    ledger_dir = area.root / "probe"
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "a.txt").write_text("written through the connection")
    area.save(ledger_dir / "a.txt")
    with seaweedfs.filesystem().open_input_stream(f"{BUCKET}/connection/probe/a.txt") as s:
        assert s.read() == b"written through the connection"

    _connection(monkeypatch, "crm_staging_wrong", seaweedfs.endpoint, "not-the-secret")
    export_staging_credentials()
    with pytest.raises(PipelineError, match="the store refused"):
        StagingArea.open(f"s3://{BUCKET}/connection").store.check()
