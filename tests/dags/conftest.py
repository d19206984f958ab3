"""Airflow must not write into the user's ~/airflow: give it a throwaway home first.

Set before anything imports Airflow (its configuration is read at import). The DAG folder
goes on sys.path as Airflow's dags-folder bundle does in the DAG processor and the
workers, so DAG files can share `dags/crm_common.py`. The sample landing zone and the
`crm_env` fixture are the tasks' own (`tests/tasks/conftest.py`), re-exported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.tasks.conftest import BRANCHES, BUSINESS_DATE, crm_env, truncate, write_landing

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


__all__ = ["BRANCHES", "BUSINESS_DATE", "crm_env", "truncate", "write_landing"]
