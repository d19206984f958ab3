"""The retail export filter: which accounts the bank leaves out of the CRM, in one place.

The RTL core system exports every account on the initial load, but the CRM takes an RTL
account only at or above the province's export filter (a minimum CNY-equivalent balance,
`export_filter` in the formula files). Conform drops or flags such accounts, the daily
run re-flags revalued ones and a formula trial re-applies a candidate's filter: all of
them must draw the line at exactly the same place, so the rule lives here alone.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from transform.fx import CNY_EXACT

RETAIL_SOURCE = "RTL"


def under_export_filter(accounts: pa.Table, export_filter: Decimal) -> pa.Array:
    """RTL accounts whose exact CNY equivalent (`balance_cny`) is strictly under the filter."""
    limit = pa.scalar(export_filter, CNY_EXACT)
    return pc.and_(
        pc.equal(accounts.column("source"), RETAIL_SOURCE),
        pc.less(accounts.column("balance_cny"), limit),
    )
