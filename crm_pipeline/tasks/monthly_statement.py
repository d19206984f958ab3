"""The `statement` task of `crm_monthly_statement`: one province's statement of a month.

The task returns the statement's summary as strings (an XCom carries counts and paths,
never data); a province whose statement failed raises ProvinceFailed with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from common import settings
from common.dates import statement_month
from crm_pipeline.statement import produce_statements
from crm_pipeline.tasks.failures import ProvinceFailed

log = logging.getLogger(__name__)


def run_month_statement(month: str, province: str) -> list[dict[str, str]]:
    """The statement of `month` (YYYYMM) for `province`, through `crm_pipeline.statement`."""
    period = statement_month(month)
    log.info("statement of %s for %s", month, province)
    summaries = produce_statements(
        period, [province], settings.warehouse_url(), settings.staging_url()
    )
    out: list[dict[str, str]] = []
    for summary in summaries:
        fields = {k: str(v) for k, v in asdict(summary).items()}
        log.info("statement of %s for %s: %s", month, province, fields)
        if summary.status == "failed":
            raise ProvinceFailed(province, "statement", summary.error or "unknown")
        out.append(fields)
    return out
