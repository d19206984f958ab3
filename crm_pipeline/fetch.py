"""Landing a province's files from the file-exchange server before its load.

The rest of the pipeline reads the local landing zone only; this is where the SFTP source
fills it (`config/pipeline.yaml` `source.kind: sftp`, or `crm-pipeline run --source sftp`).
A file the fetcher refuses (size, record count or control sum disagreeing with its flag)
is not landed, so the province fails its file check and is not published.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from common import config as cfg
from common.errors import PipelineError

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def fetch_province(
    business_date: str,
    province: str,
    mode: str,
    landing: Path,
    credentials: CredentialsProvider | None = None,
) -> None:
    """Fetch the province's branches (cities optional) and the date's FX file into `landing`.

    `credentials`: where the SFTP login comes from (connection id -> credentials); the
    environment by default, an Airflow connection when a DAG task passes its provider.
    """
    from extract.sftp import SftpFetcher, from_environment  # paramiko only for SFTP

    provinces = cfg.provinces()
    settings = cfg.settings().source.sftp
    report = SftpFetcher(settings, provider=credentials or from_environment).fetch_date(
        business_date,
        provinces.branches_of(province),
        landing,
        expected=provinces.entities[mode],  # type: ignore[index]
        optional=provinces.provinces[province].optional_cities,
    )
    for fetched in report.files:
        log.info("%s: %s", fetched, getattr(fetched, "status", ""))
    problems = [f"{path}: {reason}" for path, reason in report.rejected.items()]
    problems += [f"{path}: flag missing at the deadline" for path in report.missing]
    if problems:
        raise PipelineError(f"{province}: files refused by the fetcher: " + "; ".join(problems))
