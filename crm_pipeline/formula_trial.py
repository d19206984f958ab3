"""A formula trial: a candidate formula file scored beside the formulas in force, on a
business date's customer base, without touching the CRM tables.

The command line (`crm-pipeline formula trial`) and the DAG's trial task both call
`try_formula`, so the two can never disagree. A candidate replaces the formula whose
`name:` it carries (whatever its file is called; it joins them when none carries it):
the other files, such as another team's province entries, stay as they are. The trial is
recorded in the warehouse's formula history (load.formula_history), which `formula
accept` reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from common.errors import ConfigError, PipelineError
from common.staging import StagingArea
from crm_pipeline.scoring_base import provinces_with_base, scoring_base
from load import formula_history
from load.formula_history import Trial, TrialCount
from load.warehouse import Warehouse
from transform.scoring import FormulaSet, check_formula_files, formula_paths, load_formulas
from transform.scoring.formula_reader import read_file
from transform.scoring.report import write_report
from transform.scoring.trial import ProvinceTrial, run_trial


@dataclass(frozen=True)
class TrialOutcome:
    report: Path  # the HTML report
    trials: list[ProvinceTrial]
    counts: list[TrialCount]  # per province and customer type, as recorded and as --json
    trial_id: int


def formula_name(path: Path) -> str:
    """The `name:` a formula file carries (its stem without one); "" when unreadable."""
    formula_file, _ = read_file(path)
    return formula_file.name if formula_file is not None else ""


def namesakes(file: Path, directory: Path) -> list[Path]:
    """The files of the formulas directory the candidate `file` replaces.

    Those carrying the same `name:`; when several do (one formula in files of different
    effective dates), the one in force from the same date. A candidate whose name no file
    carries replaces nothing: it joins the others.
    """
    if not directory.is_dir():
        return []
    name = formula_name(file)
    same = [p for p in formula_paths([directory]) if p.resolve() != file.resolve()]
    same = [p for p in same if formula_name(p) == name]
    if len(same) <= 1:
        return same
    candidate, _ = read_file(file)
    when = candidate.effective_date if candidate is not None else None
    dated = [p for p in same if (f := read_file(p)[0]) is not None and f.effective_date == when]
    if len(dated) == 1:
        return dated
    raise PipelineError(
        f"{file}: the formula {name!r} is in several files of {directory} "
        f"({', '.join(p.name for p in same)}) and none or several have the candidate's "
        "effective_date: give the candidate the effective_date of the file it replaces"
    )


def candidate_paths(file: Path, directory: Path) -> list[Path]:
    """The directory's formula files with `file` in place of the formula it names."""
    replaced = {p.resolve() for p in namesakes(file, directory)}
    others = (
        [p for p in formula_paths([directory]) if p.resolve() not in replaced]
        if directory.is_dir()
        else []
    )
    return [p for p in others if p.resolve() != file.resolve()] + [file]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_candidate(file: Path, directory: Path) -> FormulaSet:
    if not file.is_file():
        raise PipelineError(f"{file}: no such file")
    formula_set, problems = check_formula_files(candidate_paths(file, directory))
    if problems:
        raise ConfigError([str(p) for p in problems])
    return formula_set


def trial_counts(trials: list[ProvinceTrial]) -> list[TrialCount]:
    """Per province and customer type: customers, qualified now and with the candidate,
    who enters and who leaves (the `--json` rows and the warehouse's trial counts)."""
    counts = []
    for t in trials:
        for cust_type in sorted(t.candidate_qualified):
            counts.append(
                TrialCount(
                    province=t.province,
                    cust_type=cust_type,
                    customers=t.customers_by_type.get(cust_type, 0),
                    qualified_now=t.current_qualified.get(cust_type, 0),
                    qualified_candidate=t.candidate_qualified[cust_type],
                    enter=sum(1 for c in t.entering if c.cust_type == cust_type),
                    leave=sum(1 for c in t.leaving if c.cust_type == cust_type),
                    formula_id_now=t.current_ids.get(cust_type),
                    formula_id_candidate=t.candidate_ids[cust_type],
                )
            )
    return counts


def open_history(warehouse_url: str | None) -> Warehouse:
    """The warehouse holding the formula history, its schema at the migrations' head."""
    warehouse = Warehouse(warehouse_url)
    warehouse.upgrade()
    return warehouse


def try_formula(
    file: Path,
    day: str,
    provinces: list[str],
    staging: Path,
    formulas: Path,
    mode: str | None = None,
    out: Path | None = None,
    limit: int = 100,
    warehouse_url: str | None = None,
) -> TrialOutcome:
    """Try `file` on the base of `day` (YYYYMMDD) of `provinces` (default: every province
    with one); the report is written and the trial recorded in the warehouse."""
    business_date = datetime.strptime(day, "%Y%m%d").date()
    candidate_set = check_candidate(file, formulas)
    current_set = load_formulas(formulas)
    area = StagingArea(staging)
    provinces = provinces or provinces_with_base(area, day)
    if not provinces:
        raise PipelineError(
            f"no province has staged data or a state snapshot of {day} under {staging}:"
            " run the load of that date first"
        )
    trials = [
        _province_trial(area, province, day, business_date, mode, current_set, candidate_set)
        for province in provinces
    ]
    sha = sha256_of(file)
    name = formula_name(file)
    out = out or staging / day / "trials" / f"{name}-{sha[:12]}"
    report = write_report(out, str(file), sha, business_date, trials, limit)
    counts = trial_counts(trials)
    warehouse = open_history(warehouse_url)
    try:
        trial_id = formula_history.record_trial(
            warehouse.engine,
            Trial(
                file=file.name,
                name=name,
                content_sha256=sha,
                content=file.read_text(encoding="utf-8"),
                business_date=business_date,
                report=str(report),
                counts=counts,
            ),
        )
    finally:
        warehouse.dispose()
    return TrialOutcome(report, trials, counts, trial_id)


def _province_trial(
    area: StagingArea,
    province: str,
    day: str,
    business_date: date,
    mode: str | None,
    current_set: FormulaSet,
    candidate_set: FormulaSet,
) -> ProvinceTrial:
    base = scoring_base(area, province, day, mode)
    if base is None:
        raise PipelineError(
            f"{province}: neither an initial load's scoring input nor a state snapshot"
            f" of {day} under {area.root}"
        )
    return run_trial(
        province,
        base.accounts,
        base.customers,
        current_set.for_province(province, business_date),
        candidate_set.for_province(province, business_date),
    )
