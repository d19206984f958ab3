"""common/store.py without a server: which store a setting names, and its key mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from common import settings
from common.errors import ConfigError, PipelineError
from common.store import is_url, open_store


def test_a_folder_is_its_own_store(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert not store.remote and store.local_root == tmp_path
    assert store.key(tmp_path / "a" / "b.json") == str(tmp_path / "a" / "b.json")
    (tmp_path / "x").write_text("x")
    store.upload(tmp_path / "x")  # nothing to do
    assert store.download(tmp_path / "x") and not store.download(tmp_path / "y")


def test_an_s3_url_is_mirrored_in_the_scratch_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_STAGING_SCRATCH", str(tmp_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    store = open_store("s3://crm/staging/")
    assert store.remote and store.remote_root == "crm/staging"
    assert store.local_root == tmp_path / "s3" / "crm" / "staging"
    local = store.local_root / "20261124" / "ZJ" / "initial" / "_jobs" / "merge.json"
    assert store.key(local) == "crm/staging/20261124/ZJ/initial/_jobs/merge.json"
    assert store.local(store.key(local)) == local
    assert store.key(store.local_root) == "crm/staging"


def test_other_schemes_and_commands_on_folders_only_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="expected a folder or s3://bucket/prefix"):
        open_store("gs://crm/staging")
    assert is_url("s3://crm/x") and not is_url(Path("s3:/crm/x"))
    monkeypatch.setenv("CRM_STAGING_DIR", "s3://crm/staging")
    assert settings.staging_url() == "s3://crm/staging"
    assert settings.staging_url("rel/dir") == str(Path("rel/dir").absolute())
    with pytest.raises(PipelineError, match="reads a local staging folder"):
        settings.staging_dir()
