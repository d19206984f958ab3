"""A province's published history stays one history: `--force` redoes only its newest date.

Forcing a date under later published ones would write that date's customers and accounts
over the CRM tables while the later daily batches stay published: the warehouse would hold
two histories and the next daily run would start from a state that no longer matches them.
So a forced run of D is refused while a later date of the province is published, naming
those dates; the newest published date can always be forced.
"""

from __future__ import annotations

from datetime import date

from common.errors import PipelineError
from crm_pipeline.state import yyyymmdd
from load.business_dates import published_dates
from load.warehouse import Warehouse


def check_force_over_history(warehouse: Warehouse, province: str, day: date) -> None:
    """PipelineError when a business date of `province` after `day` is published."""
    later = [d for d in published_dates(warehouse.engine, province) if d > day]
    if later:
        names = ", ".join(yyyymmdd(d) for d in later)
        raise PipelineError(
            f"--force {yyyymmdd(day)} refused: {province} has later published business "
            f"dates ({names}); redoing {yyyymmdd(day)} under them would leave the CRM between "
            f"two histories. Only the newest published date ({yyyymmdd(later[-1])}) can be "
            "forced; to rebuild from an earlier date, load it into a new warehouse and run "
            "every later date after it, in order"
        )
