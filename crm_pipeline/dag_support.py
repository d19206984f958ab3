"""What the DAGs call: the runner with Airflow-friendly inputs and outputs (paths and counts)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crm_pipeline import config
from crm_pipeline.errors import PipelineError
from crm_pipeline.paths import project_path
from crm_pipeline.runner import run_date

log = logging.getLogger(__name__)


def landing_dir(value: str = "") -> Path:
    return project_path(value or os.environ.get("CRM_LANDING_DIR") or config.settings().landing_dir)


def load_one_province(
    business_date: str, mode: str, province: str, landing: str = ""
) -> dict[str, object]:
    """Load one province; raise (so the task fails and retries) unless it was published."""
    [summary] = run_date(business_date, mode, landing_dir(landing), [province])
    for f in summary.files:
        log.info(
            "%s: read %d = kept %d + set aside %d + filtered %d (flagged %d)",
            f.file,
            f.read,
            f.kept,
            f.set_aside,
            f.filtered,
            f.flagged,
        )
    if summary.status == "failed":
        raise PipelineError(f"{province} {business_date} {mode}: {summary.error}")
    return {
        "province": province,
        "status": summary.status,
        "batch_id": summary.batch_id,
        "qualified": summary.qualified,
        "merged_customers": summary.merged_customers,
    }
