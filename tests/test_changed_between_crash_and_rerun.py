"""The kill -9 matrix extended (issue 16, items 1, 3 and 4): kill a run, then change what is
in force -- re-send a file, edit a formula, point at another warehouse -- then rerun. The
rerun must equal a clean run of what is in force at the rerun, never reuse the old staging,
and every formula id it publishes must be in crm_formula."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from common.paths import formulas_dir
from crm_pipeline.run import run_date
from load import tables
from tests.end_to_end.edge_dumps import rewrite_flags
from tests.test_crash_restart import COMPARED, DATE, VOLATILE, crashing_run, snapshot
from tests.test_crash_restart import landing as landing  # the module's sample (a fixture)

POINTS = ["after:ingest", "after:score", "load:stg_account:2"]


@pytest.fixture
def world(landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("CRM_LOAD_CHUNK_ROWS", "40")
    monkeypatch.setenv("CRM_BUCKETS", "3")
    formulas = tmp_path / "formulas"
    shutil.copytree(formulas_dir(), formulas)
    monkeypatch.setenv("CRM_FORMULAS_DIR", str(formulas))
    copy = tmp_path / "landing"
    shutil.copytree(landing, copy)
    return {"landing": copy, "formulas": formulas, "root": tmp_path}


def resend_shorter(landing: Path) -> None:
    """ZJ's retail accounts re-sent with their last five records fewer (flag rewritten)."""
    path = landing / DATE / "ZJ" / f"RTL_ACCT_ZJ_{DATE}.dat"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-5]))
    rewrite_flags(landing / DATE / "ZJ")


def resend_same_count(landing: Path) -> None:
    """ZJ's retail accounts re-sent with the same records, every balance one fen changed in
    its last digit: the counts agree with the killed run's, the content does not."""
    path = landing / DATE / "ZJ" / f"RTL_ACCT_ZJ_{DATE}.dat"
    end = 22 + 16 + 1 + 3 + 18 - 1  # the balance's last byte (config/layouts.yaml, RTL_ACCT)
    lines = []
    for line in path.read_bytes().splitlines(keepends=True):
        last = line[end : end + 1]
        if last.isdigit():
            line = line[:end] + (b"1" if last == b"0" else b"0") + line[end + 1 :]
        lines.append(line)
    path.write_bytes(b"".join(lines))
    rewrite_flags(landing / DATE / "ZJ")


def edit_formula(formulas: Path) -> None:
    """Every threshold of the formulas in force lowered: more customers qualify."""
    path = formulas / "reference.yaml"
    text_ = path.read_text(encoding="utf-8")
    path.write_text(text_.replace("thresholds: {P: 500000,", "thresholds: {P: 200000,"))
    assert path.read_text(encoding="utf-8") != text_


def by_identity(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """`snapshot` with each crm_cust_id replaced by the customer it numbers.

    A killed run may have registered ids for customers that the changed inputs no longer
    publish (ids are drawn once per customer and never reused), so the numbers of a rerun
    and of a clean run may differ; who is in the CRM with what must not."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            who = {
                str(r[0]): "/".join(str(v) for v in r[1:])
                for r in conn.execute(text(
                    "SELECT crm_cust_id, province, cust_type, id_type, id_no FROM crm_customer_key"
                ))
            }  # fmt: skip
    finally:
        engine.dispose()
    raw = snapshot(url)
    out: dict[str, list[tuple[Any, ...]]] = {"published": raw["published"]}
    for name, columns in COMPARED.items():
        if name == "crm_customer_key":
            continue  # the registry: a killed run's extra identities stay there, unpublished
        names = [
            c.name for c in tables.metadata.tables[name].columns
            if (columns is None and c.name not in VOLATILE) or (columns is not None and c.name in columns)
        ]  # fmt: skip
        at = names.index("crm_cust_id") if "crm_cust_id" in names else None
        out[name] = sorted(
            tuple(who[v] if i == at else v for i, v in enumerate(row)) for row in raw[name]
        )
    return out


def clean_run(world: dict[str, Path]) -> dict[str, list[tuple[Any, ...]]]:
    url = f"sqlite:///{world['root'] / 'clean.db'}"
    [summary] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, world["root"] / "clean")
    assert summary.status == "published", summary.error
    return by_identity(url)


_CLEAN_RUNS: dict[str, dict[str, list[tuple[Any, ...]]]] = {}


def clean_run_after(change: str, world: dict[str, Path]) -> dict[str, list[tuple[Any, ...]]]:
    """`clean_run` of the inputs as `change` leaves them, once per change and test worker:
    the same change gives the same inputs whatever point the run was killed at."""
    if change not in _CLEAN_RUNS:
        _CLEAN_RUNS[change] = clean_run(world)
    return _CLEAN_RUNS[change]


def unrecorded_formulas(url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT DISTINCT formula_id FROM crm_customer WHERE formula_id NOT IN"
                " (SELECT formula_id FROM crm_formula)"
            ))]  # fmt: skip
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("change", ["resend", "resend_same_count", "formula"])
@pytest.mark.parametrize("point", POINTS)
def test_kill_change_rerun_equals_a_clean_run(
    world: dict[str, Path], point: str, change: str
) -> None:
    url = f"sqlite:///{world['root'] / 'w.db'}"
    staging = world["root"] / "staging"
    crashing_run(world["landing"], url, staging, point)
    if change == "resend":
        resend_shorter(world["landing"])
    elif change == "resend_same_count":
        resend_same_count(world["landing"])
    else:
        edit_formula(world["formulas"])
    [summary] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, staging)
    assert summary.status == "published", summary.error
    expected = clean_run_after(change, world)
    assert by_identity(url) == expected, f"{point} + {change}: differs from a clean run"
    assert unrecorded_formulas(url) == []


def test_stale_staging_into_a_new_warehouse_publishes_there(world: dict[str, Path]) -> None:
    """A staging area filled and published by one run, then a run into a new, empty
    warehouse: it must load that warehouse, not say "published" over the old staging."""
    staging = world["root"] / "staging"
    first = f"sqlite:///{world['root'] / 'first.db'}"
    [summary] = run_date(DATE, "initial", world["landing"], ["ZJ"], first, staging)
    assert summary.status == "published"
    second = f"sqlite:///{world['root'] / 'second.db'}"
    [again] = run_date(DATE, "initial", world["landing"], ["ZJ"], second, staging)
    assert again.status == "published", again.error
    assert snapshot(second) == snapshot(first)


@pytest.mark.parametrize("change", ["resend_same_count", "formula"])
def test_published_date_with_other_inputs_refuses_unless_forced(
    world: dict[str, Path], change: str
) -> None:
    """Issue 16, item 1: a rerun of a published date over other inputs (a file re-sent, a
    formula edited) must not say "already published" over the old night: it refuses, naming
    what differs; forced, it publishes what is in force now, as a clean run would."""
    url = f"sqlite:///{world['root'] / 'w.db'}"
    staging = world["root"] / "staging"
    [first] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, staging)
    assert first.status == "published", first.error
    [same] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, staging)
    assert same.status == "already published", same.error
    before = by_identity(url)
    if change == "resend_same_count":
        resend_same_count(world["landing"])
        said = f"RTL_ACCT_ZJ_{DATE}.dat re-sent"
    else:
        edit_formula(world["formulas"])
        said = "the formulas in force changed"
    [refused] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, staging)
    assert refused.status == "failed"
    assert "published from other inputs" in (refused.error or "")
    assert said in (refused.error or "") and "--force" in (refused.error or "")
    assert by_identity(url) == before, "a refused rerun changed the warehouse"
    [forced] = run_date(DATE, "initial", world["landing"], ["ZJ"], url, staging, force=True)
    assert forced.status == "published", forced.error
    assert by_identity(url) == clean_run(world)


def test_formulas_edited_between_two_runs_of_one_process_are_scored(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scorer's formulas were cached per process by (province, date) only: a second
    run in the same process after an edit (an Airflow worker, a rerun, a trial) scored with
    the old thresholds and stamped the new formula ids. Now the cache is keyed by content.
    One bucket: the buckets are scored in this process, not in fresh worker processes."""
    monkeypatch.setenv("CRM_BUCKETS", "1")
    first = f"sqlite:///{world['root'] / 'first.db'}"
    [a] = run_date(DATE, "initial", world["landing"], ["ZJ"], first, world["root"] / "st1")
    assert a.status == "published", a.error
    edit_formula(world["formulas"])
    second = f"sqlite:///{world['root'] / 'second.db'}"
    [b] = run_date(DATE, "initial", world["landing"], ["ZJ"], second, world["root"] / "st2")
    assert b.status == "published", b.error
    engine = create_engine(second)
    try:
        with engine.connect() as conn:
            below_old = conn.execute(text(
                "SELECT count(*) FROM crm_customer WHERE qualified AND cust_type = 'P'"
                " AND score < 500000"
            )).scalar_one()  # fmt: skip
    finally:
        engine.dispose()
    assert b.qualified > a.qualified and below_old > 0
    assert unrecorded_formulas(second) == []
