"""Fixtures of the end-to-end tests: one generated sample, the oracle's reading of it,
and the pipeline's load of it into SQLite and PostgreSQL (shared by the package's modules)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crm_pipeline.context import ProvinceSummary
from crm_pipeline.run import run_date
from crm_pipeline.sample import write_sample
from tests import oracle
from tests.oracle import ProvinceResult

DAY = date(2026, 11, 24)
D = "20261124"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]
PROVINCES = ["ZJ", "GD"]
CUSTOMERS = 300
SEED = 23

Key = tuple[str, str, str, str]  # province, cust_type, id_type, id_no


@dataclass(frozen=True)
class Sample:
    landing: Path
    manifest: dict[str, Any]

    def entries(self, province: str) -> list[dict[str, Any]]:
        return [e for e in self.manifest["files"] if e["province"] == province]

    def entry(self, name: str) -> dict[str, Any]:
        return next(e for e in self.manifest["files"] if Path(e["file"]).name == name)


@dataclass(frozen=True)
class Loaded:
    """A warehouse the sample was loaded into, and what `run_date` returned."""

    url: str
    staging: Path
    summaries: list[ProvinceSummary]


@pytest.fixture(scope="package")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    landing = tmp_path_factory.mktemp("landing")
    manifest = write_sample(landing, DAY, BRANCHES, CUSTOMERS, SEED)
    return Sample(landing, json.loads(manifest.read_text(encoding="utf-8")))


@pytest.fixture(scope="package")
def expected(sample: Sample) -> dict[str, ProvinceResult]:
    return {p: oracle.run_province(sample.landing, D, p) for p in PROVINCES}


@pytest.fixture(
    scope="package",
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres]),
    ],
)
def loaded(
    request: pytest.FixtureRequest, sample: Sample, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    work = tmp_path_factory.mktemp(f"run-{request.param}")
    database = None
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'warehouse.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        database = server.create_database()
        url = server.url(database)
    try:
        summaries = run_date(D, "initial", sample.landing, None, url, work / "staging")
        yield Loaded(url, work / "staging", summaries)
    finally:
        if database is not None:
            server.drop_database(database)


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def money(value: Any) -> Decimal:
    """An amount read back from either backend (SQLite stores decimal text)."""
    return Decimal(str(value))


def published_batch(url: str, province: str) -> int:
    rows = query(
        url,
        "SELECT batch_id FROM crm_load_batch WHERE province = :p AND status = 'published'",
        p=province,
    )
    assert len(rows) == 1, (province, rows)
    return int(rows[0][0])


def crm_ids(url: str) -> dict[Key, int]:
    rows = query(url, "SELECT province, cust_type, id_type, id_no, crm_cust_id FROM crm_customer")
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


def qualified_keys(expected: dict[str, ProvinceResult]) -> set[Key]:
    return {(p, *m.key) for p, r in expected.items() for m in r.qualified()}


# --- the oracle against the generator's manifest (no pipeline involved) -----------------
