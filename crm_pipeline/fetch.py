"""Landing a province's files from the file-exchange server before its load.

The rest of the pipeline reads the local landing zone only; this is where the SFTP source
fills it (`config/pipeline.yaml` `source.kind: sftp`, or `crm-pipeline run --source sftp`).
A file the fetcher refuses (size, record count or control sum disagreeing with its flag)
is not landed, so the province fails its file check and is not published.
"""

from __future__ import annotations

import logging
from pathlib import Path

from common import config as cfg
from common.errors import PipelineError

log = logging.getLogger(__name__)


def fetch_province(business_date: str, province: str, mode: str, landing: Path) -> None:
    """Fetch the province's branches (cities optional) and the date's FX file into `landing`."""
    from extract.sftp import SftpFetcher  # paramiko only when the SFTP source is used

    provinces = cfg.provinces()
    settings = cfg.settings().source.sftp
    report = SftpFetcher(settings).fetch_date(
        business_date,
        provinces.branches_of(province),
        landing,
        expected=provinces.entities[mode],  # type: ignore[index]
        optional=provinces.provinces[province].cities,
    )
    for fetched in report.files:
        log.info("%s: %s", fetched, getattr(fetched, "status", ""))
    problems = [f"{path}: {reason}" for path, reason in report.rejected.items()]
    problems += [f"{path}: flag missing at the deadline" for path in report.missing]
    if problems:
        raise PipelineError(f"{province}: files refused by the fetcher: " + "; ".join(problems))
