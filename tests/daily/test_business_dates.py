"""The previous business date: days are applied in order, none skipped or repeated."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from common.errors import PipelineError
from crm_pipeline.daily.business_dates import check_no_gap, landed_days, published_before

D = date(2026, 12, 3)


def test_the_newest_published_date_before_the_day() -> None:
    published = [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    assert published_before(D, published) == date(2026, 12, 2)
    # the day itself published (a forced rerun): the one before it
    assert published_before(D, [*published, D]) == date(2026, 12, 2)


def test_a_later_published_day_refuses_the_run() -> None:
    with pytest.raises(PipelineError, match="20261205 is already published.*out of order"):
        published_before(D, [date(2026, 12, 1), date(2026, 12, 4), date(2026, 12, 5)])


def test_no_published_day_before_refuses_the_run() -> None:
    with pytest.raises(PipelineError, match="no published business date before 20261203"):
        published_before(D, [])
    with pytest.raises(PipelineError, match="no published business date before 20261203"):
        published_before(D, [D])


def test_a_pending_day_in_between_is_named_first() -> None:
    check_no_gap(D, date(2026, 12, 2), [])
    with pytest.raises(PipelineError) as caught:
        check_no_gap(D, date(2026, 11, 29), [date(2026, 12, 1), date(2026, 11, 30)])
    message = str(caught.value)
    assert "20261130 is not published" in message
    assert "the last published one is 20261129" in message
    assert "run 20261130 first" in message


def test_landed_days_are_the_province_branch_folders_strictly_between(tmp_path: Path) -> None:
    for day, branch in [
        ("20261130", "ZJ"),  # the previous day itself: not between
        ("20261201", "NB"),  # a city of ZJ
        ("20261202", "GD"),  # another province
        ("20261202", "junk"),
        ("20261203", "ZJ"),  # the day itself: not between
    ]:
        (tmp_path / day / branch).mkdir(parents=True)
    (tmp_path / "2026120x").mkdir()
    (tmp_path / "20261399" / "ZJ").mkdir(parents=True)  # not a date
    (tmp_path / "20261201.txt").write_text("")
    assert landed_days(tmp_path, "ZJ", date(2026, 11, 30), D) == [date(2026, 12, 1)]
    assert landed_days(tmp_path, "GD", date(2026, 11, 30), D) == [date(2026, 12, 2)]
    assert landed_days(tmp_path / "absent", "ZJ", date(2026, 11, 30), D) == []
