"""What the sensors wait for, without a scheduler: flags missing, files broken, ready."""

from __future__ import annotations

from pathlib import Path

from crm_pipeline.tasks.waiting import fx_landing, province_landing, why_still_waiting
from tests.tasks.conftest import BUSINESS_DATE, truncate


def test_landing_states_missing_then_ready_then_broken(crm_env: dict[str, str]) -> None:
    landing = Path(crm_env["CRM_LANDING_DIR"])
    assert province_landing(BUSINESS_DATE, "initial", "ZJ").ready
    assert fx_landing(BUSINESS_DATE).ready
    # A flag not there yet: keep waiting, naming the file.
    flag = landing / BUSINESS_DATE / "NB" / f"CRD_ACCT_NB_{BUSINESS_DATE}.ok"
    flag.unlink()
    state = province_landing(BUSINESS_DATE, "initial", "ZJ")
    assert not state.ready and state.missing == [f"CRD_ACCT_NB_{BUSINESS_DATE}.dat"]
    # A province that sent nothing at all waits too.
    assert not province_landing(BUSINESS_DATE, "initial", "SD").ready
    # A truncated file has its flag: no use waiting, the load reports it.
    truncate(landing, "GD")
    state = province_landing(BUSINESS_DATE, "initial", "GD")
    assert state.ready and "truncated or corrupt" in state.broken[0]


def test_fx_file_waits_for_its_flag(crm_env: dict[str, str]) -> None:
    landing = Path(crm_env["CRM_LANDING_DIR"])
    (landing / BUSINESS_DATE / f"FXR_RATE_{BUSINESS_DATE}.ok").unlink()
    assert fx_landing(BUSINESS_DATE).missing == [f"FXR_RATE_{BUSINESS_DATE}.dat"]
    # The landing given as a parameter wins over CRM_LANDING_DIR.
    assert not fx_landing(BUSINESS_DATE, str(landing.parent / "elsewhere")).ready


def test_what_a_timed_out_sensor_was_waiting_for(crm_env: dict[str, str]) -> None:
    assert why_still_waiting(BUSINESS_DATE, "initial", "ZJ") == ""
    landing = Path(crm_env["CRM_LANDING_DIR"])
    (landing / BUSINESS_DATE / "GD" / f"LON_CUST_GD_{BUSINESS_DATE}.ok").unlink()
    reason = why_still_waiting(BUSINESS_DATE, "initial", "GD")
    assert reason == f"still missing after the sensor's timeout: LON_CUST_GD_{BUSINESS_DATE}.dat"
