"""Fixtures of the daily-run tests: generated worlds loaded day by day (SQLite)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.context import ProvinceSummary
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from crm_pipeline.sample.daily import write_daily


@dataclass
class World:
    """An initial sample at D0 and `days` daily dates after it, loaded into `url`."""

    root: Path
    landing: Path
    staging: Path
    url: str
    d0: date
    days: int
    full: Path | None = None

    def day(self, index: int) -> str:
        return (self.d0 + timedelta(days=index)).strftime("%Y%m%d")

    def run(self, index: int, mode: str = "daily", **kw: Any) -> list[ProvinceSummary]:
        return run_date(
            self.day(index), mode, self.landing, warehouse_url=self.url,
            staging=self.staging, **kw,
        )  # fmt: skip

    def manifest(self, index: int) -> dict[str, Any]:
        return json.loads((self.landing / self.day(index) / "daily_manifest.json").read_text())

    def query(self, sql: str, url: str | None = None) -> list[tuple[Any, ...]]:
        engine = create_engine(url or self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql)).all()]
        finally:
            engine.dispose()


def make_world(
    root: Path,
    d0: date,
    days: int,
    branches: list[str],
    customers: int,
    seed: int,
    full: bool = False,
    change_rate: float = 0.05,
) -> World:
    landing = root / "landing"
    write_sample(landing, d0, branches, customers, seed)
    world = World(
        root, landing, root / "staging", f"sqlite:///{root / 'warehouse.db'}", d0, days,
        root / "full" if full else None,
    )  # fmt: skip
    write_daily(landing, d0, days, seed=seed, change_rate=change_rate, full_out=world.full)
    return world


@pytest.fixture(autouse=True, scope="session")
def _one_ingest_worker() -> Any:
    """Tiny files: parsing them in this process is faster than starting workers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_INGEST_WORKERS", "1")
        yield


@pytest.fixture(scope="session")
def world(_one_ingest_worker: None, tmp_path_factory: pytest.TempPathFactory) -> World:
    """ZJ (with its city NB) and GD: initial at D0, five daily runs D1..D5, all published."""
    w = make_world(
        tmp_path_factory.mktemp("daily"), date(2026, 11, 24), 5, ["ZJ", "NB", "GD"], 150, 11,
        full=True,
    )  # fmt: skip
    for index in range(0, 6):
        summaries = w.run(index, "initial" if index == 0 else "daily")
        assert [s.status for s in summaries] == ["published", "published"], summaries
    return w
