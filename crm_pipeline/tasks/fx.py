"""The `stage_fx_rates` task: the date's FX rates staged once, before the provinces run.

Every province reads the same staged rates; staging them here means two provinces
never write the same Parquet file at the same moment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from common import settings
from common.dates import business_date
from common.errors import PipelineError
from common.staging import StagingArea
from crm_pipeline.fetch import fetch_fx
from crm_pipeline.ingest_step import stage_fx_rates
from crm_pipeline.tasks.failures import ProvinceFailed

if TYPE_CHECKING:
    from extract.sftp import CredentialsProvider

log = logging.getLogger(__name__)


def stage_fx(day: str, landing: str = "", credentials: CredentialsProvider | None = None) -> str:
    """Stage the FX rates of `day` (a rerun reuses them); the folder they are staged in.
    For the SFTP source the FX file is fetched into the landing mirror first."""
    day = business_date(day)
    area = StagingArea.open(settings.staging_url())
    try:
        if settings.source_kind() == "sftp":
            fetch_fx(day, settings.landing_dir(landing), credentials)
        rates = stage_fx_rates(area, settings.landing_dir(landing), day, False)
    except PipelineError as exc:
        raise ProvinceFailed("FX", "fx rates", str(exc)) from exc
    log.info("FX rates of %s staged: %d currencies", day, rates.num_rows)
    return str(area.fx_dir(day))
