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
    from extract.sftp import CredentialsProvider, SftpFetcher

log = logging.getLogger(__name__)


def _fetcher(credentials: CredentialsProvider | None) -> SftpFetcher:
    from extract.sftp import SftpFetcher, from_environment  # paramiko only for SFTP

    return SftpFetcher(cfg.settings().source.sftp, provider=credentials or from_environment)


def flags_on_server(
    business_date: str,
    province: str,
    mode: str,
    credentials: CredentialsProvider | None = None,
) -> tuple[list[str], list[str]]:
    """One look at the server for the province's files: (flags still missing, files that
    can never be landed, each with its reason). Nothing is fetched."""
    provinces = cfg.provinces()
    listing = _fetcher(credentials).look(
        business_date,
        provinces.branches_of(province),
        Path("."),  # only names are listed; nothing lands
        expected=provinces.entities[mode],  # type: ignore[index]
        optional=provinces.provinces[province].optional_cities,
    )
    return listing.missing, [f"{path}: {reason}" for path, reason in listing.rejected.items()]


def fetch_fx(
    business_date: str, landing: Path, credentials: CredentialsProvider | None = None
) -> list[str]:
    """The date's FX file from the server into `landing` (the `stage_fx_rates` task needs
    it before any province is fetched); the names landed. PipelineError when it is refused,
    FlagDeadlineError when its flag is still missing at the deadline."""
    report = _fetcher(credentials).fetch_date(business_date, [], landing)
    problems = [f"{path}: {reason}" for path, reason in report.rejected.items()]
    if problems:
        raise PipelineError("FX rates refused by the fetcher: " + "; ".join(problems))
    return [f.name for f in report.files]


def fx_flag_on_server(
    business_date: str, credentials: CredentialsProvider | None = None
) -> list[str]:
    """One look at the server for the date's FX file: its flag if still missing."""
    listing = _fetcher(credentials).look(business_date, [], Path("."))
    return listing.missing + [f"{p}: {r}" for p, r in listing.rejected.items()]


def fetch_province(
    business_date: str,
    province: str,
    mode: str,
    landing: Path,
    credentials: CredentialsProvider | None = None,
) -> int:
    """Fetch the province's branches (cities optional) and the date's FX file into `landing`;
    how many files were landed (resumed or fetched).

    `credentials`: where the SFTP login comes from (connection id -> credentials); the
    environment by default, an Airflow connection when a DAG task passes its provider.
    """
    provinces = cfg.provinces()
    report = _fetcher(credentials).fetch_date(
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
    return len(report.files)
