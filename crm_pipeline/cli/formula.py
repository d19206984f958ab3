"""`crm-pipeline formula check|trial|accept`: the analysts' path from a YAML edit to live.

check   every problem of the formula files, each with file, line, column and a message;
trial   a candidate file against the formulas in force, on a business date's staged data,
        without touching the CRM tables; writes a Markdown report with SVG histograms;
accept  copies a file whose trial is on record for its exact content (sha256) into the
        formulas directory, and records the acceptance in the formula registry.

A candidate file replaces the file of the same name in the formulas directory (or joins
them): the other files, such as another team's province entries, stay as they are.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import date
from pathlib import Path

from common import settings
from common.dates import business_date
from common.errors import PipelineError
from common.paths import formulas_dir
from crm_pipeline.cli.options import add_province_option, provinces_of
from crm_pipeline.formula_trial import REGISTRY_NAME, check_candidate, sha256_of, try_formula
from transform.scoring import check_formula_files, formula_paths
from transform.scoring.formula_warnings import formula_warnings
from transform.scoring.registry import AcceptRecord, FormulaRegistry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("formula", help="check, try and accept scoring formulas")
    commands = parser.add_subparsers(dest="formula_command", required=True)

    check = commands.add_parser("check", help="list every problem of formula files")
    check.add_argument(
        "paths", nargs="*", type=Path, help="files or directories (default: the formulas directory)"
    )
    check.set_defaults(handler=handle_check)

    trial = commands.add_parser("trial", help="try a candidate formula file on staged data")
    trial.add_argument("file", type=Path)
    trial.add_argument("--date", required=True, help="business date YYYYMMDD")
    add_province_option(trial, "every province with staged data or a state snapshot")
    trial.add_argument(
        "--staging", type=Path, default=None, help="staging directory (default: config)"
    )
    trial.add_argument(
        "--formulas", type=Path, default=None, help="formulas in force (default: config)"
    )
    trial.add_argument(
        "--mode",
        default=None,
        help="staged run mode folder (initial / daily), when the staging has one",
    )
    trial.add_argument(
        "--out", type=Path, default=None, help="report folder (default: under the staging date)"
    )
    trial.add_argument(
        "--limit", type=int, default=100, help="customers listed per enter/leave table"
    )
    trial.set_defaults(handler=handle_trial)

    accept = commands.add_parser("accept", help="put a tried formula file in force")
    accept.add_argument("file", type=Path)
    accept.add_argument("--staging", type=Path, default=None)
    accept.add_argument("--formulas", type=Path, default=None)
    accept.add_argument("--note", default="", help="why (kept in the history)")
    accept.set_defaults(handler=handle_accept)


def _formulas_dir(value: Path | None) -> Path:
    return value if value is not None else formulas_dir()


def _staging_dir(value: Path | None) -> Path:
    return settings.staging_dir(value)


def handle_check(args: argparse.Namespace) -> int:
    paths = args.paths or [formulas_dir()]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}:1:1: no such file or directory")
    files = formula_paths([p for p in paths if p.exists()])
    formula_set, problems = check_formula_files(files)
    for problem in problems:
        print(problem)
    for warning in formula_warnings(formula_set.files):
        print(f"warning: {warning}")
    count = len(problems) + len(missing)
    if count:
        print(
            f"{count} problem{'s' if count != 1 else ''} in {len(files)} file(s)", file=sys.stderr
        )
        return 1
    print(f"ok: {len(files)} formula file(s) checked")
    return 0


def handle_trial(args: argparse.Namespace) -> int:
    staging = _staging_dir(args.staging)
    day = business_date(args.date)
    provinces = provinces_of(args)
    outcome = try_formula(
        args.file, day, provinces, staging, _formulas_dir(args.formulas), args.mode,
        args.out, args.limit,
    )  # fmt: skip
    for t in outcome.trials:
        for cust_type in sorted(t.candidate_qualified):
            enter = sum(1 for c in t.entering if c.cust_type == cust_type)
            leave = sum(1 for c in t.leaving if c.cust_type == cust_type)
            print(
                f"{t.province} {cust_type}: qualified {t.current_qualified.get(cust_type, 0)} -> "
                f"{t.candidate_qualified[cust_type]} (enter {enter}, leave {leave})"
            )
    print(f"report: {outcome.report}")
    return 0


def handle_accept(args: argparse.Namespace) -> int:
    directory = _formulas_dir(args.formulas)
    registry = FormulaRegistry(_staging_dir(args.staging) / REGISTRY_NAME)
    if not args.file.is_file():
        raise PipelineError(f"{args.file}: no such file")
    sha = sha256_of(args.file)
    trial = registry.latest_trial(args.file.name, sha)
    if trial is None:
        earlier = registry.trials(args.file.name)
        if earlier:
            last = earlier[-1]
            print(
                f"refused: {args.file} changed since its last trial ({last['at']}, content "
                f"{last['sha256'][:12]}, now {sha[:12]}): the trial is stale; run "
                f"`crm-pipeline formula trial {args.file} --date D` again",
                file=sys.stderr,
            )
        else:
            print(
                f"refused: {args.file} has no trial on record; run "
                f"`crm-pipeline formula trial {args.file} --date D` first",
                file=sys.stderr,
            )
        return 1
    candidate_set = check_candidate(args.file, directory)
    target = directory / args.file.name
    directory.mkdir(parents=True, exist_ok=True)
    if args.file.resolve() != target.resolve():
        shutil.copyfile(args.file, target)
    formula_file = next(f for f in candidate_set.files if f.path == args.file)
    effective = formula_file.effective_date
    ids = {
        province: candidate_set.for_province(province, max(effective, date.today())).formula_ids
        for province in candidate_set.provinces()
    }
    registry.record_acceptance(
        AcceptRecord(
            file=args.file.name,
            sha256=sha,
            effective_date=effective.isoformat(),
            formula_ids=ids,
            trial=trial,
            content=args.file.read_text(encoding="utf-8"),
            note=args.note,
        )
    )
    print(f"accepted {args.file.name} ({sha[:12]}), in force from {effective}; now at {target}")
    for province, by_type in ids.items():
        print(f"  {province}: " + ", ".join(f"{t} {i}" for t, i in sorted(by_type.items())))
    return 0
