"""Airflow must not write into the user's ~/airflow: give it a throwaway home first.

Set before anything imports Airflow (its configuration is read at import). The DAG folder
goes on sys.path as Airflow's dags-folder bundle does in the DAG processor and the
workers, so DAG files can share `dags/crm_common.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DAGS = PROJECT / "dags"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="crm-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))

BUSINESS_DATE = "20261124"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]  # two provinces, each with a city branch folded in


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """The metadata database (SQLite in the throwaway AIRFLOW_HOME), migrated once."""
    subprocess.run(
        [str(AIRFLOW_BIN), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return os.environ["AIRFLOW_HOME"]


def write_landing(root: Path, customers: int = 60, seed: int = 11) -> Path:
    """A sample landing zone (the `crm-pipeline sample` generator) for BUSINESS_DATE."""
    from crm_pipeline.sample import write_sample

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
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CRM_PROVINCES", raising=False)
    yield env
