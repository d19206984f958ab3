"""The full dumps of the daily generator's truth, as an initial load at that date reads them.

The equivalence test loads them beside the daily path (initial at D0 + daily D1..Dn must
equal an initial load at Dn).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from common.config import layouts
from crm_pipeline.sample.branches import under_filter
from crm_pipeline.sample.daily.truth import Branch
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.fx import CNY_RATE, write_rates
from crm_pipeline.sample.naming import ACCOUNT_ENTITY, SYSTEMS, dump_path
from crm_pipeline.sample.writer import assemble, write_lines


def write_full(out: Path, day: date, branches: dict[str, Branch], rates: dict[str, int]) -> None:
    """The full dumps (`CUST`, `ACCT`/`HOLD`, `FXR_RATE`) of the truth as of `day`.

    As the core systems would send them: retail accounts under the export filter are left
    out, and so are the (closed) accounts of customers that no longer exist.
    """
    config = layouts()
    write_rates(out, day, rates)
    for code, branch in branches.items():
        for system in SYSTEMS:
            truth = branch.systems[system]
            cust_layout = config.layout_for(system, "CUST")
            entity = ACCOUNT_ENTITY[system]
            acct_layout = config.layout_for(system, entity)
            lines = [assemble(f, cust_layout) for _, f in sorted(truth.customers.items())]
            write_lines(dump_path(out, ymd(day), code, system, "CUST"), lines, cust_layout)
            accounts = []
            for _, fields in sorted(truth.accounts.items()):
                if fields[1] not in truth.customers:
                    continue
                if system == "RTL":
                    currency, balance = branch.retail(fields)
                    if under_filter(balance, rates.get(currency, CNY_RATE), code):
                        continue
                accounts.append(assemble(fields, acct_layout))
            write_lines(dump_path(out, ymd(day), code, system, entity), accounts, acct_layout)
