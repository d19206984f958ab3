"""The quality gate for the DAG tasks: a province's verdict in the task log, with a link to
its Data Docs, and a held night as a task failure that is not retried (a retry would only
hold it again; the operator fixes the file or runs `crm-pipeline quality accept`).

The gate itself runs inside the province's load (the `quality_gate` step); this is what a
task reports of it, and what a DAG with a separate gate task would call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common import settings
from common.dates import business_date, business_day
from crm_pipeline.tasks.failures import ProvinceFailed
from load import quality
from load.tables.quality import HELD
from load.warehouse import Warehouse

log = logging.getLogger(__name__)


def gate_province(day: str, mode: str, province: str) -> dict[str, Any]:
    """The province's latest gate result of `day` and `mode`, logged with its Data Docs
    (the task's XCom); ProvinceFailed (step quality_gate) when it is held."""
    day = business_date(day)
    warehouse = Warehouse(settings.warehouse_url())
    try:
        found = [
            r for r in quality.results(warehouse.engine, business_day(day), province, latest=True)
            if r.mode == mode
        ]  # fmt: skip
    finally:
        warehouse.dispose()
    if not found:
        log.info("%s %s %s: no quality gate result", province, day, mode)
        return {"province": province, "business_date": day, "mode": mode, "verdict": None}
    result = found[-1]
    docs = Path(result.docs).as_uri() if result.docs else None
    log.info("%s %s: quality gate %s; Data Docs: %s", province, day, result.verdict, docs)
    for f in result.failures:
        log.log(
            logging.ERROR if f.severity == "critical" else logging.WARNING,
            "%s %s: %s %s %s: %s (expected %s)",
            province, day, f.severity, f.check, f.subject, f.observed, f.expected,
        )  # fmt: skip
    if result.verdict == HELD:
        critical = [f"{f.check} {f.subject}" for f in result.failures if f.severity == "critical"]
        raise ProvinceFailed(
            province,
            "quality_gate",
            f"held, not published: {', '.join(critical)}; Data Docs {docs}",
        )
    return {
        "province": province,
        "business_date": day,
        "mode": mode,
        "verdict": result.verdict,
        "failures": len(result.failures),
        "docs": docs,
    }
