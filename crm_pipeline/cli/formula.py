"""`crm-pipeline formula check|trial|accept`: the analysts' path from a YAML edit to live.

check   every problem of the formula files, each with file, line, column and a message;
trial   a candidate file against the formulas in force, on a business date's customer base,
        without touching the CRM tables; writes an HTML report (`--json`: the counts as
        JSON) and records the trial in the warehouse's formula history;
accept  writes a file whose trial is on record for its exact content (sha256) into the
        formulas directory, and records the acceptance in the formula history.

A candidate replaces the formula whose `name:` it carries, whatever its file is called
(or joins them): the other files, such as another team's province entries, stay as they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from datetime import date
from pathlib import Path

from common import settings
from common.dates import business_date
from common.errors import PipelineError
from common.paths import formulas_dir
from crm_pipeline.cli.options import add_province_option, provinces_of
from crm_pipeline.formula_trial import (
    check_candidate,
    formula_name,
    namesakes,
    open_history,
    sha256_of,
    try_formula,
)
from load import formula_history
from load.formula_history import Acceptance
from transform.scoring import check_formula_files, formula_paths
from transform.scoring.formula_warnings import formula_warnings

WAREHOUSE_HELP = "SQLAlchemy URL of the formula history (default: CRM_WAREHOUSE_URL, else config)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("formula", help="check, try and accept scoring formulas")
    commands = parser.add_subparsers(dest="formula_command", required=True)

    check = commands.add_parser("check", help="list every problem of formula files")
    check.add_argument(
        "paths", nargs="*", type=Path, help="files or directories (default: the formulas directory)"
    )
    check.set_defaults(handler=handle_check)

    trial = commands.add_parser("trial", help="try a candidate formula file on a date's customers")
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
    trial.add_argument("--warehouse", metavar="URL", help=WAREHOUSE_HELP)
    trial.add_argument(
        "--json",
        action="store_true",
        help="print the counts per province and customer type as JSON (report path on stderr)",
    )
    trial.set_defaults(handler=handle_trial)

    accept = commands.add_parser("accept", help="put a tried formula file in force")
    accept.add_argument("file", type=Path)
    accept.add_argument("--formulas", type=Path, default=None)
    accept.add_argument("--warehouse", metavar="URL", help=WAREHOUSE_HELP)
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
    outcome = try_formula(
        args.file, day, provinces_of(args), staging, _formulas_dir(args.formulas), args.mode,
        args.out, args.limit, settings.warehouse_url(args.warehouse),
    )  # fmt: skip
    if args.json:
        rows = [
            {k: v for k, v in dataclasses.asdict(c).items() if not k.startswith("formula_id")}
            for c in outcome.counts
        ]
        print(json.dumps(rows, indent=2))
        print(f"trial {outcome.trial_id} recorded; report: {outcome.report}", file=sys.stderr)
        return 0
    for c in outcome.counts:
        print(
            f"{c.province} {c.cust_type}: qualified {c.qualified_now} -> "
            f"{c.qualified_candidate} of {c.customers} (enter {c.enter}, leave {c.leave})"
        )
    print(f"trial {outcome.trial_id} recorded in the warehouse's formula history")
    print(f"report: {outcome.report}")
    return 0


def _refusal(file: Path, sha: str, earlier: list[formula_history.Trial]) -> str:
    if not earlier:
        return (
            f"refused: {file} has no trial on record; run "
            f"`crm-pipeline formula trial {file} --date D` first"
        )
    last = earlier[-1]
    return (
        f"refused: {file} changed since its formula's last trial ({last.trial_id}, "
        f"{last.tried_at:%Y-%m-%d %H:%M}, content {last.content_sha256[:12]}, now {sha[:12]}): "
        f"the trial is stale; run `crm-pipeline formula trial {file} --date D` again"
    )


def _target(file: Path, directory: Path) -> Path:
    """The file of the formulas directory the accepted content is written to: the one
    carrying its `name:`, else one of its own file name (never another formula's file)."""
    replaced = namesakes(file, directory)
    if replaced:
        return replaced[0]
    target = directory / file.name
    if target.is_file() and target.resolve() != file.resolve():
        raise PipelineError(
            f"{file}: {target} holds the formula {formula_name(target)!r}, not "
            f"{formula_name(file)!r}: rename the candidate's file"
        )
    return target


def handle_accept(args: argparse.Namespace) -> int:
    directory = _formulas_dir(args.formulas)
    if not args.file.is_file():
        raise PipelineError(f"{args.file}: no such file")
    sha = sha256_of(args.file)
    warehouse = open_history(settings.warehouse_url(args.warehouse))
    try:
        trial = formula_history.latest_trial(warehouse.engine, sha)
        if trial is None:
            earlier = formula_history.trials(warehouse.engine, name=formula_name(args.file))
            print(_refusal(args.file, sha, earlier), file=sys.stderr)
            return 1
        candidate_set = check_candidate(args.file, directory)
        target = _target(args.file, directory)
        directory.mkdir(parents=True, exist_ok=True)
        if args.file.resolve() != target.resolve():
            shutil.copyfile(args.file, target)
        formula_file = next(f for f in candidate_set.files if f.path == args.file)
        effective = formula_file.effective_date
        ids = {
            province: candidate_set.for_province(province, max(effective, date.today())).formula_ids
            for province in candidate_set.provinces()
        }
        acceptance_id = formula_history.record_acceptance(
            warehouse.engine,
            Acceptance(
                trial_id=trial.trial_id, file=target.name, name=formula_file.name,
                content_sha256=sha, content=args.file.read_text(encoding="utf-8"),
                effective_date=effective, formula_ids=ids, note=args.note,
            ),
        )  # fmt: skip
    finally:
        warehouse.dispose()
    print(
        f"accepted {args.file.name} ({sha[:12]}, trial {trial.trial_id}) as {target}, in force "
        f"from {effective}; acceptance {acceptance_id} recorded in the warehouse"
    )
    for province, by_type in ids.items():
        print(f"  {province}: " + ", ".join(f"{t} {i}" for t, i in sorted(by_type.items())))
    return 0
