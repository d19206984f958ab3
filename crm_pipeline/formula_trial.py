"""A formula trial: a candidate formula file scored beside the formulas in force, on a
business date's customer base, without touching the CRM tables.

The command line (`crm-pipeline formula trial`) and the DAG's trial task both call
`try_formula`, so the two can never disagree. A candidate replaces the file of the same
name in the formulas directory (or joins them): the other files, such as another team's
province entries, stay as they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from common.errors import ConfigError, PipelineError
from common.staging import StagingArea
from crm_pipeline.scoring_base import provinces_with_base, scoring_base
from transform.scoring import FormulaSet, check_formula_files, formula_paths, load_formulas
from transform.scoring.registry import FormulaRegistry, TrialRecord
from transform.scoring.report import markdown, svg_histogram
from transform.scoring.trial import ProvinceTrial, run_trial

REGISTRY_NAME = "formula_registry.jsonl"


@dataclass(frozen=True)
class TrialOutcome:
    report: Path  # the Markdown report
    trials: list[ProvinceTrial]


def candidate_paths(file: Path, directory: Path) -> list[Path]:
    """The directory's formula files with `file` in place of its namesake."""
    others = (
        [p for p in formula_paths([directory]) if p.name != file.name] if directory.is_dir() else []
    )
    return [*others, file]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_candidate(file: Path, directory: Path) -> FormulaSet:
    if not file.is_file():
        raise PipelineError(f"{file}: no such file")
    formula_set, problems = check_formula_files(candidate_paths(file, directory))
    if problems:
        raise ConfigError([str(p) for p in problems])
    return formula_set


def try_formula(
    file: Path,
    day: str,
    provinces: list[str],
    staging: Path,
    formulas: Path,
    mode: str | None = None,
    out: Path | None = None,
    limit: int = 100,
) -> TrialOutcome:
    """Try `file` on the base of `day` (YYYYMMDD) of `provinces` (default: every province
    with one); the report is written and the trial recorded in the formula registry."""
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
    trials: list[ProvinceTrial] = []
    for province in provinces:
        base = scoring_base(area, province, day, mode)
        if base is None:
            raise PipelineError(
                f"{province}: neither an initial load's scoring input nor a state snapshot"
                f" of {day} under {staging}"
            )
        trials.append(
            run_trial(
                province,
                base.accounts,
                base.customers,
                current_set.for_province(province, business_date),
                candidate_set.for_province(province, business_date),
            )
        )
    sha = sha256_of(file)
    out = out or staging / day / "trials" / f"{file.stem}-{sha[:12]}"
    report = write_report(out, file, sha, business_date, trials, limit)
    FormulaRegistry(staging / REGISTRY_NAME).record_trial(
        TrialRecord(
            file=file.name,
            sha256=sha,
            business_date=business_date.isoformat(),
            provinces=provinces,
            qualified={t.province: t.candidate_qualified for t in trials},
            report=str(report),
        )
    )
    return TrialOutcome(report, trials)


def write_report(
    out: Path, file: Path, sha: str, business_date: date, trials: list[ProvinceTrial], limit: int
) -> Path:
    """Markdown report, one SVG per histogram, and the full enter/leave lists as CSV."""
    out.mkdir(parents=True, exist_ok=True)
    svg_names: dict[tuple[str, str], str] = {}
    for t in trials:
        for h in t.histograms:
            name = f"histogram-{t.province}-{h.cust_type}.svg"
            (out / name).write_text(
                svg_histogram(h, f"{t.province} {h.cust_type} scores (candidate)"), encoding="utf-8"
            )
            svg_names[(t.province, h.cust_type)] = name
    rows = [
        (t.province, direction, c)
        for t in trials
        for direction, changes in (("enter", t.entering), ("leave", t.leaving))
        for c in changes
    ]
    changes = pa.table(
        {
            "province": [r[0] for r in rows],
            "change": [r[1] for r in rows],
            "cust_key": [r[2].cust_key for r in rows],
            "cust_type": [r[2].cust_type for r in rows],
            "score_now": pa.array([r[2].current_score for r in rows], pa.decimal128(20, 2)),
            "score_candidate": pa.array([r[2].candidate_score for r in rows], pa.decimal128(20, 2)),
        }
    )
    pacsv.write_csv(changes, out / "changes.csv")
    report = out / "report.md"
    report.write_text(
        markdown(str(file), sha, business_date, trials, svg_names, limit), encoding="utf-8"
    )
    return report
