"""Nights for the quality gate's tests: one small generated sample (ZJ with its city NB),
copied per test, broken in one place, re-flagged like a sender would, then run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from common import config as cfg
from common.paths import config_dir
from crm_pipeline.context import ProvinceSummary
from crm_pipeline.quality.config import quality
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from load.quality import QualityResult, results
from load.warehouse import Warehouse
from tests import oracle

DAY = date(2026, 11, 24)
D = "20261124"
CUSTOMERS = 300
SEED = 23


@pytest.fixture(scope="package")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("quality-landing")
    write_sample(landing, DAY, ["ZJ", "NB"], CUSTOMERS, SEED)
    return landing


def reflag(path: Path) -> None:
    """The `.ok` of a data file rewritten for its new content (what the sender does)."""
    system, entity = path.name.split("_")[:2]
    layout = oracle.layouts().layout_for(system, entity)
    path.with_suffix(".ok").write_text(oracle.flag_for(path, layout), encoding="ascii")


def fx_path(landing: Path, day: str = D) -> Path:
    return landing / day / f"FXR_RATE_{day}.dat"


def read_rates(landing: Path, day: str = D) -> dict[str, tuple[Decimal, str]]:
    lines = fx_path(landing, day).read_text(encoding="utf-8").splitlines()
    return {c: (Decimal(r), d) for c, r, d in (line.split("|") for line in lines)}


def write_rates(landing: Path, lines: list[str], day: str = D) -> None:
    path = fx_path(landing, day)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    reflag(path)


def edit_rate(landing: Path, currency: str, rate: str | None, rate_date: str | None = None) -> None:
    """Change (or, with rate None, drop) one currency's line of the day's FX file."""
    out = []
    for code, (value, day) in read_rates(landing).items():
        if code != currency:
            out.append(f"{code}|{value}|{day}")
        elif rate is not None:
            out.append(f"{code}|{rate}|{rate_date or day}")
    write_rates(landing, out)


@dataclass
class Night:
    landing: Path
    staging: Path
    url: str

    def run(self, mode: str = "initial", day: str = D) -> ProvinceSummary:
        [summary] = run_date(day, mode, self.landing, ["ZJ"], self.url, self.staging)
        return summary

    def results(self, day: date = DAY) -> list[QualityResult]:
        warehouse = Warehouse(self.url)
        try:
            return results(warehouse.engine, day, "ZJ")
        finally:
            warehouse.dispose()


@pytest.fixture
def night(sample: Path, tmp_path: Path) -> Night:
    landing = tmp_path / "landing"
    shutil.copytree(sample, landing)
    return Night(landing, tmp_path / "staging", f"sqlite:///{tmp_path / 'warehouse.db'}")


def failed(result: QualityResult, severity: str = "critical") -> dict[tuple[str, str], str]:
    """{(check, subject): observed} of a result's failures of one severity."""
    return {(f.check, f.subject): f.observed for f in result.failures if f.severity == severity}


@pytest.fixture
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of config/ the test may edit, in force for the runs it makes."""
    directory = tmp_path / "config"
    shutil.copytree(config_dir(), directory)
    monkeypatch.setenv("CRM_CONFIG_DIR", str(directory))
    for cached in (cfg.layouts, cfg.provinces, cfg.settings, quality):
        cached.cache_clear()
    yield directory
    for cached in (cfg.layouts, cfg.provinces, cfg.settings, quality):
        cached.cache_clear()


def compare_small_types(config: Path) -> None:
    """The sample's ~100 qualified customers compared (the default `min_qualified` of
    1,000 leaves them out)."""
    path = config / "quality.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name in ("qualified_change", "score_change"):
        data["checks"][name]["min_qualified"] = 0
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    quality.cache_clear()
