"""The `formula_trial` task: `crm-pipeline formula trial` on a date's staged data.

It goes through the command line's own parser so the DAG and the analysts' command can
never disagree about options. The report lands in a folder named after the formula file
and the first characters of its sha256, so two versions of one file never share a report.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from common import settings
from common.errors import PipelineError
from common.paths import project_path
from crm_pipeline.cli import build_parser
from crm_pipeline.tasks.dates import business_date


def formula_trial(formula_file: str, province: str, day: str, mode: str = "") -> Path:
    """Try `formula_file` on the staged data of `day`; the path of the Markdown report."""
    path = project_path(formula_file)
    if not path.is_file():
        raise PipelineError(f"{path}: no such formula file")
    day = business_date(day)
    staging = settings.staging_dir()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    out = staging / day / "trials" / f"{path.stem}-{sha[:12]}"
    argv = ["formula", "trial", str(path), "--date", day, "--staging", str(staging)]
    argv += ["--out", str(out)]
    if province:
        argv += ["--province", province]
    if mode:
        argv += ["--mode", mode]
    args = build_parser().parse_args(argv)
    status = int(args.handler(args))
    if status != 0:
        raise PipelineError(f"formula trial of {path.name} ended with status {status}")
    return out / "report.md"
