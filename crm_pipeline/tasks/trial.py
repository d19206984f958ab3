"""The `formula_trial` task: `crm-pipeline formula trial` on a date's customer base.

It calls what the analysts' command calls (`crm_pipeline.formula_trial.try_formula`), so
the two never disagree, and records the trial in the same warehouse (the configured one).
The HTML report lands in a folder named after the formula and the first characters of
the file's sha256, so two versions of one formula never share a report.
"""

from __future__ import annotations

from pathlib import Path

from common import settings
from common.dates import business_date
from common.errors import PipelineError
from common.paths import formulas_dir, project_path
from crm_pipeline.formula_trial import try_formula


def formula_trial(formula_file: str, province: str, day: str, mode: str = "") -> Path:
    """Try `formula_file` on the customer base of `day`; the path of the HTML report."""
    path = project_path(formula_file)
    if not path.is_file():
        raise PipelineError(f"{path}: no such formula file")
    day = business_date(day)
    staging = settings.staging_dir()
    outcome = try_formula(
        path,
        day,
        [province] if province else [],
        staging,
        formulas_dir(),
        mode or None,
        warehouse_url=settings.warehouse_url(),
    )
    return outcome.report
