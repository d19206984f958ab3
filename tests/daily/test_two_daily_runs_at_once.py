"""Two `crm-pipeline run` processes of one daily night started together, with real
processes: one publishes (staged by its changes, load.customer_scope.row_scope), the other
stops on the night's lease or finds it published; the CRM ends as one run leaves it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.daily.conftest import World, make_world
from tests.test_crash_restart import snapshot

BACKENDS = ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])]


def _daily(world: World, url: str, staging: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crm_pipeline.cli", "run", "--date", world.day(1),
         "--mode", "daily", "--landing", str(world.landing), "--warehouse", url,
         "--staging", str(staging)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CRM_INGEST_WORKERS": "1"},
    )  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_daily_runs_at_once_publish_one_batch(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ", "NB"], 150, 11)
    if backend == "sqlite":
        raced, alone = f"sqlite:///{tmp_path / 'raced.db'}", f"sqlite:///{tmp_path / 'alone.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        raced, alone = (server.url(server.create_database()) for _ in range(2))
    for url, staging in ((raced, tmp_path / "staging_raced"), (alone, tmp_path / "staging_alone")):
        world.url, world.staging = url, staging
        assert [s.status for s in world.run(0, "initial")] == ["published"]
    solo = _daily(world, alone, tmp_path / "staging_alone")
    out, _ = solo.communicate(timeout=600)
    assert solo.returncode == 0, out

    first = _daily(world, raced, tmp_path / "staging_raced")
    second = _daily(world, raced, tmp_path / "staging_raced")
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    assert codes in ([0, 0], [0, 3]), outs
    daily = world.query(
        "SELECT b.status, c.position FROM crm_load_batch b LEFT JOIN crm_checkpoint c"
        " ON c.batch_id = b.batch_id AND c.stream = 'row_scope'"
        " WHERE b.mode = 'daily' AND b.status = 'published'",
        raced,
    )
    assert daily == [("published", "changes")], daily
    assert snapshot(raced) == snapshot(alone)
