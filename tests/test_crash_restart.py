"""Kill the pipeline with SIGKILL at many points, restart it, and compare with a clean run.

Each crashing run is a real `crm-pipeline run` process killed by the runner's own
`crash_point` (CRM_CRASH_AT): nothing gets to clean up. The restart must end with exactly
the warehouse an uninterrupted run gives (row for row, ids included, no duplicates) and
must not redo what was committed before the kill (the control tables' counts say so).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from load import tables

DATE = "20261124"
# The order the runner ingests a province's files in: branches, then systems and entities
# as config/provinces.yaml lists them.
ZJ_FILES = [
    f"{s}_{e}_{b}_{DATE}.dat"
    for b in ("ZJ", "NB")
    for s, e in (
        ("RTL", "CUST"),
        ("RTL", "ACCT"),
        ("CRD", "CUST"),
        ("CRD", "ACCT"),
        ("LON", "CUST"),
        ("LON", "ACCT"),
        ("FND", "CUST"),
        ("FND", "HOLD"),
    )
]

# Step boundaries, files inside the ingest step, and chunks inside the load step.
POINTS = [
    "before:ingest",
    *[f"ingest:{ZJ_FILES[i]}" for i in (0, 3, 7, 8, 14)],
    "after:ingest",
    "conform:" + ZJ_FILES[4],  # files inside the conform step
    "after:conform",
    "merge:0001",  # buckets inside the merge and score steps
    "after:merge",
    "score:0000",
    "score:0002",
    "after:score",
    "after:state",
    "before:load",
    "load:stg_customer:1",
    "load:stg_customer:3",
    "load:stg_account:2",
    "load:stg_customer_source:2",
    "load:stg_contact:1",
    "load:stg_account:1",
    "load:stg_account:4",
    "load:stg_reject:1",
]
SQLITE_POINTS = [
    "ingest:" + ZJ_FILES[2],
    "score:0001",
    "load:stg_customer:2",
    "load:stg_account:3",
]

# What the CRM sees, without what legitimately differs between runs (batch ids, times).
COMPARED = {
    "crm_customer": [
        "crm_cust_id",
        "province",
        "cust_type",
        "name",
        "id_type",
        "id_no",
        "master_source",
        "master_cust_no",
        "score",
        "formula_id",
        "qualified",
    ],
    "crm_customer_source": ["crm_cust_id", "source", "source_cust_no", "role"],
    "crm_account": [
        "crm_cust_id",
        "source",
        "acct_no",
        "kind",
        "currency",
        "balance",
        "balance_cny",
        "status",
    ],
    "crm_contact": None,
    "crm_reject": ["file", "line", "raw", "reason"],
    "crm_customer_key": None,
    "crm_file_count": None,
}
VOLATILE = {"batch_id", "first_batch_id", "published_at", "created_at", "assigned_at"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    write_sample(out, date(2026, 11, 24), ["ZJ", "NB"], 150, 11)
    return out


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    result: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for name, columns in COMPARED.items():
                table = tables.metadata.tables[name]
                cols = [
                    c
                    for c in table.columns
                    if (columns is None and c.name not in VOLATILE)
                    or (columns is not None and c.name in columns)
                ]
                rows = conn.execute(select(*cols)).all()
                result[name] = sorted(tuple(str(v) for v in r) for r in rows)
            published = conn.execute(
                select(tables.crm_load_batch.c.province).where(
                    tables.crm_load_batch.c.status == "published"
                )
            ).all()
            result["published"] = sorted(tuple(r) for r in published)
    finally:
        engine.dispose()
    return result


def step_rows(url: str, column: str) -> list[tuple[str, str, Any]]:
    """(name, state, `column`) of every step recorded in the warehouse, in order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            step = tables.crm_step.c
            rows = conn.execute(
                select(step.name, step.state, step[column]).order_by(step.step_id)
            ).all()
    finally:
        engine.dispose()
    return [(n, s, v) for n, s, v in rows]


def step_counts(url: str) -> list[tuple[str, str, dict[str, int]]]:
    return [(n, s, json.loads(c) if c else {}) for n, s, c in step_rows(url, "counts")]


def crashing_run(landing: Path, url: str, staging: Path, point: str) -> None:
    env = {**os.environ, "CRM_CRASH_AT": point, "CRM_LOAD_CHUNK_ROWS": "40", "CRM_BUCKETS": "3"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_pipeline.cli",
            "run",
            "--date",
            DATE,
            "--mode",
            "initial",
            "--landing",
            str(landing),
            "--province",
            "ZJ",
            "--warehouse",
            url,
            "--staging",
            str(staging),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a loaded machine is slow; a hang still ends
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"{point}: expected a SIGKILL, got {proc.returncode}\n{proc.stderr[-2000:]}"
    )


@pytest.fixture
def chunked_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CRM_LOAD_CHUNK_ROWS", "40")
    monkeypatch.setenv("CRM_BUCKETS", "3")  # a province cut in buckets, each its restart point
    yield


def reference(landing: Path, url: str, staging: Path) -> dict[str, list[tuple[Any, ...]]]:
    [summary] = run_date(DATE, "initial", landing, ["ZJ"], url, staging)
    assert summary.status == "published", summary.error
    return snapshot(url)


def check_restart(
    landing: Path, url: str, staging: Path, point: str, expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    crashing_run(landing, url, staging, point)
    before = step_counts(url)
    [summary] = run_date(DATE, "initial", landing, ["ZJ"], url, staging)
    assert summary.status == "published", f"{point}: {summary.error}"
    assert snapshot(url) == expected, f"{point}: warehouse differs from an uninterrupted run"
    after = step_counts(url)[len(before) :]
    done_before = {n for n, s, _ in before if s == "completed"}
    for name, state, counts in after:
        assert state == "completed", (point, name, state)
        if name in done_before and name != "load":
            assert counts.get("skipped") == 1, f"{point}: step {name} was redone"
    kind, _, rest = point.partition(":")
    if kind == "ingest":
        parsed_before = ZJ_FILES.index(rest) + 1
        ingest = next(c for n, _, c in after if n == "ingest")
        assert ingest["files_skipped"] == parsed_before, f"{point}: files parsed again"
    if kind == "load" and not rest.startswith("resolve_ids"):
        load = next(c for n, _, c in after if n == "load")
        assert load["chunks_skipped"] >= 1, f"{point}: committed chunks written again"


PARTS = 3  # the points in 3 tests, so that the two test workers share them


def test_the_points_cover_every_step_and_inner_restart_point() -> None:
    assert len(POINTS) >= 20 and len(set(POINTS)) == len(POINTS)
    assert {p.partition(":")[0] for p in POINTS} >= {"before", "after", "ingest", "conform",
                                                       "merge", "score", "load"}  # fmt: skip
    assert sorted(p for part in range(PARTS) for p in POINTS[part::PARTS]) == sorted(POINTS)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_sigkill_at_every_point_then_restart_on_postgres(
    landing: Path, pg_server: Any, tmp_path: Path, chunked_load: None, part: int
) -> None:
    ref_url = pg_server.url(pg_server.create_database())
    expected = reference(landing, ref_url, tmp_path / "ref")
    assert expected["crm_customer"], "the sample must qualify some customers"
    for i, point in enumerate(POINTS[part::PARTS]):
        url = pg_server.url(pg_server.create_database())
        check_restart(landing, url, tmp_path / f"s{i}", point, expected)


@pytest.mark.slow
def test_sigkill_then_restart_on_sqlite(
    landing: Path, tmp_path: Path, chunked_load: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worker processes, which a province this small would not start by itself: a kill
    # while they hold a bucket must not leave one writing beside the restart.
    monkeypatch.setenv("CRM_BUCKET_WORKERS", "2")
    expected = reference(landing, f"sqlite:///{tmp_path / 'ref.db'}", tmp_path / "ref")
    for i, point in enumerate(SQLITE_POINTS):
        url = f"sqlite:///{tmp_path / f'w{i}.db'}"
        check_restart(landing, url, tmp_path / f"s{i}", point, expected)
