"""A sample landing zone, staging area and SQLite warehouse in tmp_path, for the tasks.

The tasks read where things are the way the DAG workers do, from CRM_LANDING_DIR /
CRM_STAGING_DIR / CRM_WAREHOUSE_URL; the DAG tests (`tests/dags`) use the same fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from crm_pipeline.sample import write_sample

BUSINESS_DATE = "20261124"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]  # two provinces, each with a city branch folded in


def write_landing(root: Path, customers: int = 60, seed: int = 11) -> Path:
    """A sample landing zone (the `crm-pipeline sample` generator) for BUSINESS_DATE."""
    landing = root / "landing"
    write_sample(landing, date(2026, 11, 24), BRANCHES, customers, seed)
    return landing


def truncate(landing: Path, province: str = "GD", day: str = BUSINESS_DATE) -> Path:
    """Break one of the province's files the way a cut transfer does: bytes missing."""
    path = landing / day / province / f"RTL_ACCT_{province}_{day}.dat"
    path.write_bytes(path.read_bytes()[:-40])
    return path


@pytest.fixture
def crm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Landing, staging and SQLite warehouse in tmp_path, passed the way the runner reads them."""
    landing = write_landing(tmp_path)
    env = {
        "CRM_LANDING_DIR": str(landing),
        "CRM_STAGING_DIR": str(tmp_path / "staging"),
        "CRM_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.db'}",
        "CRM_EXPORT_DIR": str(tmp_path / "export"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CRM_PROVINCES", raising=False)
    yield env
