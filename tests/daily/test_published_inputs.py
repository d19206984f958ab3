"""A published daily date rerun over other inputs (issue 16, item 1): the rerun refuses,
naming the re-sent file, instead of saying "already published" over the old night; the
same inputs stay "already published"; forced, the date is recomputed from the new file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.daily.conftest import make_world
from tests.end_to_end.edge_dumps import rewrite_flags


def test_a_resent_daily_file_is_refused_then_forced(tmp_path: Path) -> None:
    world = make_world(tmp_path, date(2026, 11, 24), 1, ["ZJ"], 60, 5)
    for index, mode in ((0, "initial"), (1, "daily")):
        [summary] = world.run(index, mode)
        assert summary.status == "published", summary.error
    [same] = world.run(1)
    assert same.status == "already published", same.error
    folder = world.landing / world.day(1) / "ZJ"
    resent = next(p for p in sorted(folder.glob("*.dat")) if len(p.read_bytes().splitlines()) > 1)
    lines = resent.read_bytes().splitlines(keepends=True)
    resent.write_bytes(b"".join(lines[:-1]))
    rewrite_flags(folder)
    crm = "SELECT crm_cust_id, score, qualified, batch_id FROM crm_customer ORDER BY 1"
    before = world.query(crm)
    [refused] = world.run(1)
    assert refused.status == "failed"
    assert f"{resent.name} re-sent" in (refused.error or ""), refused.error
    assert "--force" in (refused.error or "")
    assert world.query(crm) == before
    [forced] = world.run(1, force=True)
    assert forced.status == "published", forced.error
    published = world.query(
        "SELECT count(*) FROM crm_load_batch WHERE business_date = '2026-11-25'"
        " AND status = 'published'"
    )
    assert published == [(1,)]
