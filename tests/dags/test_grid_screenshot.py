"""docs/tools/grid_screenshot.py without Chromium or a running Airflow.

The screenshot itself needs the Debian package `chromium` and a minute of Airflow; what is
checked here is what it is set up with: a sample landing zone with exactly one province
broken, components on loopback with no login, and a Chromium that stays offline.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.doc_tools import load_tool

pytestmark = pytest.mark.airflow  # fast: no Airflow server, no Chromium


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool("grid_screenshot")


def test_the_landing_has_one_broken_province(tool: ModuleType, tmp_path: Path) -> None:
    landing, broken = tool.write_landing(tmp_path, customers=20, seed=23)
    day = landing / "20261124"
    assert (day / "FXR_RATE_20261124.ok").exists()
    assert {p.name for p in day.iterdir() if p.is_dir()} >= {"ZJ", "GD"}
    assert broken == day / "GD" / "RTL_ACCT_GD_20261124.dat"
    # The flag announces more bytes than the data file has: the verify step rejects GD.
    for province in ("ZJ", "GD"):
        data = day / province / f"RTL_ACCT_{province}_20261124.dat"
        announced = int(data.with_suffix(".ok").read_text().split("|")[1])
        assert (data.stat().st_size == announced) is (province == "ZJ")


def test_airflow_stays_on_loopback_with_no_login(tool: ModuleType, tmp_path: Path) -> None:
    env = tool.airflow_env(tmp_path, 18080)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert env["CRM_WAREHOUSE_URL"] == f"sqlite:///{tmp_path / 'warehouse.db'}"
    assert (
        env["AIRFLOW__API_AUTH__JWT_SECRET"]
        != tool.airflow_env(tmp_path, 18080)["AIRFLOW__API_AUTH__JWT_SECRET"]
    )


def test_chromium_is_headless_offline_and_fresh(tool: ModuleType, tmp_path: Path) -> None:
    command = tool.chromium_command("/usr/bin/chromium", tmp_path / "profile", (1600, 760))
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1600,760",
        "--remote-debugging-address=127.0.0.1",
    ):
        assert flag in command
    assert command[-1] == "about:blank"


def test_the_page_is_the_runs_province_group(tool: ModuleType) -> None:
    url = tool.group_url("http://127.0.0.1:8080", "manual__2026-11-25T09:31:14.265211+00:00")
    assert url == (
        "http://127.0.0.1:8080/dags/crm_initial_load/runs/"
        "manual__2026-11-25T09%3A31%3A14.265211%2B00%3A00/tasks/group/province"
    )
