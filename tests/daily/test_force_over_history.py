"""`--force` over history (issue 16, item 5): forcing a date under later published dates is
refused, naming them, and leaves the CRM as it was; the newest date can be forced."""

from __future__ import annotations

from datetime import date

import pytest

from tests.daily.conftest import World, make_world


@pytest.fixture(scope="module")
def three_nights(tmp_path_factory: pytest.TempPathFactory) -> World:
    world = make_world(tmp_path_factory.mktemp("force"), date(2026, 11, 24), 2, ["ZJ", "NB"], 60, 9)
    for index in range(3):
        [summary] = world.run(index, "initial" if index == 0 else "daily")
        assert summary.status == "published", summary.error
    return world


def _crm(world: World) -> list[tuple[object, ...]]:
    return world.query(
        "SELECT crm_cust_id, score, qualified, batch_id FROM crm_customer ORDER BY crm_cust_id"
    )


@pytest.mark.parametrize(("index", "mode", "later"), [(0, "initial", "20261125, 20261126"),
                                                     (1, "daily", "20261126")])  # fmt: skip
def test_forcing_under_later_dates_is_refused(
    three_nights: World, index: int, mode: str, later: str
) -> None:
    before = _crm(three_nights)
    [summary] = three_nights.run(index, mode, force=True)
    assert summary.status == "failed"
    assert f"later published business dates ({later})" in (summary.error or "")
    assert "Only the newest published date (20261126) can be forced" in (summary.error or "")
    assert _crm(three_nights) == before


def test_the_newest_date_can_be_forced(three_nights: World) -> None:
    [summary] = three_nights.run(2, "daily", force=True)
    assert summary.status == "published", summary.error
    rows = three_nights.query(
        "SELECT count(*) FROM crm_load_batch WHERE business_date = '2026-11-26'"
        " AND status = 'published'"
    )
    assert rows == [(1,)]
