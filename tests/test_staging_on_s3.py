"""The staging area and the state snapshots on a real object store (SeaweedFS's S3 gateway).

Each run works in a local scratch folder (`CRM_STAGING_SCRATCH`) and the store is the
truth: a run in another scratch folder (another machine, as far as the pipeline can tell)
finds every step's outputs and every state snapshot there. The results are compared with
runs on a local staging folder, and the store is read here with a client of the test's own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from common.jobs import JobLedger
from common.staging import StagingArea
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily
from crm_pipeline.state import STATE_KEYS, read_state
from tests.daily.test_daily_crash_restart import snapshot
from tests.servers.seaweedfs import BUCKET, SeaweedServer
from tests.test_crash_restart import step_counts

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.xdist_group("s3")]
D0, D1 = "20261124", "20261125"
KEYS = {name: [(k, "ascending") for k in key] for name, key in STATE_KEYS.items()}


@dataclass
class Reference:
    """ZJ's initial load of D0 and daily run of D1 on a local staging folder."""

    landing: Path
    staging: Path
    initial: dict[str, list[tuple[Any, ...]]]
    daily: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("s3-reference")
    landing = root / "landing"
    write_sample(landing, date(2026, 11, 24), ["ZJ", "NB"], 150, 11)
    write_daily(landing, date(2026, 11, 24), 1, seed=11, change_rate=0.1)
    url = f"sqlite:///{root / 'ref.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_BUCKETS", "3")
        [first] = run_date(D0, "initial", landing, ["ZJ"], url, root / "staging")
        assert first.status == "published", first.error
        initial = snapshot(url)
        [daily] = run_date(D1, "daily", landing, ["ZJ"], url, root / "staging")
        assert daily.status == "published", daily.error
    assert initial["crm_customer"] and snapshot(url)["crm_txn"], "the sample must matter"
    return Reference(landing, root / "staging", initial, snapshot(url))


@pytest.fixture
def client(seaweedfs: SeaweedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process as a staging client of the store: endpoint and credentials from the
    environment, a scratch folder of its own (returned)."""
    for name, value in seaweedfs.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRM_STAGING_SCRATCH", str(tmp_path / "scratch-here"))
    monkeypatch.setenv("CRM_BUCKETS", "3")
    return tmp_path / "scratch-here"


def read_arrow(fs: pafs.FileSystem, key: str) -> pa.Table:
    with fs.open_input_file(key) as source:
        return pa.ipc.open_file(source).read_all()


def entry(fs: pafs.FileSystem, key: str) -> dict[str, Any]:
    with fs.open_input_stream(key) as stream:
        loaded: dict[str, Any] = json.loads(stream.read())
    return loaded


def other_process(
    seaweedfs: SeaweedServer, args: list[str], scratch: Path, crash_at: str = ""
) -> subprocess.CompletedProcess[str]:
    """`crm-pipeline run ...` in a process of its own, with its own scratch folder."""
    env = {**os.environ, **seaweedfs.env(), "CRM_STAGING_SCRATCH": str(scratch)}
    env |= {"CRM_BUCKETS": "3", "CRM_CRASH_AT": crash_at}
    command = [sys.executable, "-m", "crm_pipeline.cli", "run", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_initial_load_on_s3_equals_local_staging(
    reference: Reference, seaweedfs: SeaweedServer, client: Path, tmp_path: Path
) -> None:
    staging = f"s3://{BUCKET}/equal/staging"
    url = f"sqlite:///{tmp_path / 'w.db'}"
    [summary] = run_date(D0, "initial", reference.landing, ["ZJ"], url, staging)
    assert summary.status == "published", summary.error
    assert snapshot(url) == reference.initial

    fs = seaweedfs.filesystem()
    base = f"{BUCKET}/equal/staging"
    local = StagingArea(reference.staging)
    for table in ("customers", "accounts"):
        stored = read_arrow(fs, f"{base}/state/ZJ/{D0}/{table}.arrow")
        expected = pa.ipc.open_file(str(local.state_file("ZJ", D0, table))).read_all()
        assert stored.num_rows > 0 and stored.equals(expected), table
    with fs.open_input_stream(f"{base}/{D0}/ZJ/initial/rejects.csv") as stream:
        rejects = stream.read()
    assert rejects == local.run(D0, "ZJ", "initial").rejects_csv.read_bytes()
    steps = ("ingest", "conform", "merge", "score", "state", "load")
    for step in steps:
        recorded = entry(fs, f"{base}/{D0}/ZJ/initial/_jobs/{step}.json")
        assert recorded["state"] == "done", step
        for key, size in recorded["outputs"].items():
            assert key.startswith(f"{base}/") and fs.get_file_info(key).size == size, key
    merge = entry(fs, f"{base}/{D0}/ZJ/initial/_jobs/merge/0000.json")
    assert str(client) not in json.dumps(merge), "an entry must not hold this scratch's paths"


def test_sigkill_mid_run_then_rerun_elsewhere_resumes(
    reference: Reference, seaweedfs: SeaweedServer, client: Path, tmp_path: Path
) -> None:
    staging = f"s3://{BUCKET}/crash/staging"
    url = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["--date", D0, "--mode", "initial", "--landing", str(reference.landing)]
    args += ["--province", "ZJ", "--warehouse", url, "--staging", staging]
    crashed = other_process(seaweedfs, args, tmp_path / "scratch-crashed", "merge:0001")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    fs = seaweedfs.filesystem()
    jobs = f"{BUCKET}/crash/staging/{D0}/ZJ/initial/_jobs"
    assert entry(fs, f"{jobs}/merge.json")["state"] == "started"
    merged_before = {b: entry(fs, f"{jobs}/merge/{b}.json") for b in ("0000", "0001")}
    assert all(e["state"] == "done" for e in merged_before.values())
    shutil.rmtree(tmp_path / "scratch-crashed")  # that machine is gone, and its disk
    before = step_counts(url)

    [summary] = run_date(D0, "initial", reference.landing, ["ZJ"], url, staging)
    assert summary.status == "published", summary.error
    assert snapshot(url) == reference.initial
    after = {name: counts for name, _, counts in step_counts(url)[len(before) :]}
    assert after["ingest"].get("skipped") == 1 and after["conform"].get("skipped") == 1
    assert "skipped" not in after["merge"] and "skipped" not in after["score"]
    for bucket, was in merged_before.items():
        assert entry(fs, f"{jobs}/merge/{bucket}.json") == was, f"bucket {bucket} was redone"
    assert entry(fs, f"{jobs}/merge/0002.json")["state"] == "done"
    ledger = JobLedger(client / "s3" / BUCKET / "crash/staging" / D0 / "ZJ/initial/_jobs")
    assert not ledger.states(), "the scratch folder holds no ledger: the store does"


def test_daily_night_from_state_another_process_wrote(
    reference: Reference,
    seaweedfs: SeaweedServer,
    client: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staging = f"s3://{BUCKET}/nights/staging"
    url = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["--date", D0, "--mode", "initial", "--landing", str(reference.landing)]
    args += ["--province", "ZJ", "--warehouse", url, "--staging", staging]
    first = other_process(seaweedfs, args, tmp_path / "scratch-first")
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (client / "s3").exists(), "this client has not touched the store yet"

    [daily] = run_date(D1, "daily", reference.landing, ["ZJ"], url, staging)
    assert daily.status == "published", daily.error
    assert snapshot(url) == reference.daily
    fs = seaweedfs.filesystem()
    layer = entry(fs, f"{BUCKET}/nights/staging/state/ZJ/{D1}/layer.json")
    assert layer["previous"] == D0, "D1 is written as a layer over D0 (issue 21)"
    fetched = client / "s3" / BUCKET / "nights/staging/state/ZJ" / D0 / "accounts.arrow"
    assert fetched.is_file(), "the daily run read D0's state from the store"
    # Another machine reads D1: its layer and the D0 snapshot below it, from the store.
    monkeypatch.setenv("CRM_STAGING_SCRATCH", str(tmp_path / "scratch-reader"))
    day = date(2026, 11, 25)
    expected = read_state(StagingArea(reference.staging), "ZJ", day)
    read = read_state(StagingArea.open(staging), "ZJ", day)
    for name, table, want in zip(("customers", "accounts"), read, expected, strict=True):
        assert table.sort_by(KEYS[name]).equals(want.sort_by(KEYS[name])), name
    assert (tmp_path / "scratch-reader" / "s3" / BUCKET / "nights/staging/state/ZJ" / D0).is_dir()


def test_wrong_secret_is_refused(seaweedfs: SeaweedServer) -> None:
    fs = seaweedfs.filesystem(secret="not-the-secret")
    with pytest.raises(OSError, match="ACCESS_DENIED|AccessDenied|SignatureDoesNotMatch"):
        fs.get_file_info(f"{BUCKET}/anything")
