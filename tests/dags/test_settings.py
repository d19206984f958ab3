"""The settings the DAGs resolve for the tasks: the environment, else an Airflow Variable."""

from __future__ import annotations

import pytest
from crm_settings import PROVINCES_SETTING, setting

from crm_pipeline.tasks.planning import plan_run
from tests.dags.conftest import BUSINESS_DATE

pytestmark = pytest.mark.airflow


def test_expected_provinces_come_from_the_setting(
    crm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PROVINCES", "GD,ZJ,BJ")
    expected = setting(PROVINCES_SETTING)
    assert plan_run(BUSINESS_DATE, "daily", expected=expected) == ["ZJ", "GD", "BJ"]


def test_an_unset_setting_is_empty_without_a_variable_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CRM_ALERT_WEBHOOK", raising=False)
    assert setting("CRM_ALERT_WEBHOOK") == ""
