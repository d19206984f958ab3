"""The initial sample: the entities of each branch, their records per system, the files.

One seeded generator per branch (derived from the run's seed and the branch code), so a
branch's files do not change when other branches are added to the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

from common.config import layouts
from crm_pipeline.sample.accounts import ACCOUNT_BUILDERS, Owners
from crm_pipeline.sample.branches import (
    DEFAULT_BRANCHES,
    branch_rng,
    export_filter,
    province_of,
    wealth_scale,
)
from crm_pipeline.sample.columns import concat_tables, take_table
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.entities import Entities, build_entities, customer_table, presence
from crm_pipeline.sample.fx import format_rate, fx_rates, write_rates
from crm_pipeline.sample.initial_files import accounts_file, customers_file, empty_files
from crm_pipeline.sample.naming import SYSTEMS
from crm_pipeline.sample.report import FileReport

__all__ = ["DEFAULT_BRANCHES", "write_sample"]

SHARED_WITH_PROVINCE = 0.10  # share of a city branch's entities also banking in the province
# Wealth kept per system, relative to the entity's wealth (RTL deposits carry the most).
SYSTEM_SHARE = {"RTL": 1.0, "CRD": 1.0, "LON": 1.0, "FND": 1.0}


def _entities(
    seed: int, branches: Sequence[str], customers: int, business_date: date
) -> dict[str, Entities]:
    """Entities of every branch; a city shares some with its province when both are run."""
    out: dict[str, Entities] = {}
    ordered = sorted(branches, key=lambda b: province_of(b) != b)  # provinces first
    for branch in ordered:
        rng = branch_rng(seed, branch)
        ent = build_entities(rng, branch, customers, business_date, wealth_scale(branch))
        province = province_of(branch)
        if province != branch and province in out and customers:
            base = out[province]
            k = int(customers * SHARED_WITH_PROVINCE)
            rows = rng.choice(len(base), min(k, len(base)), replace=False)
            table = concat_tables(
                [take_table(base.table, rows), take_table(ent.table, slice(k, None))]
            )
            ent = Entities(branch, table, np.concatenate([base.wealth[rows], ent.wealth[k:]]))
        out[branch] = ent
    return out


def write_sample(
    out: Path, business_date: date, branches: Sequence[str], customers: int, seed: int
) -> Path:
    """Write a full initial-load dump for ``branches`` under ``out`` (the SFTP /outbound).

    Returns the manifest path ``out/{D}/sample_manifest.json``.
    """
    config = layouts()
    day = ymd(business_date)
    rates = fx_rates(np.random.default_rng([seed, 0]))
    reports: list[FileReport] = []
    reports.append(FileReport("FXR_RATE", None, write_rates(out, business_date, rates)))
    if customers == 0:  # every branch still sends each file, empty, with its flag
        for branch in branches:
            reports.extend(empty_files(out, config, branch, day))
        branches_to_fill: Sequence[str] = ()
    else:
        branches_to_fill = branches
    world = _entities(seed, branches_to_fill, customers, business_date)
    for branch in branches_to_fill:
        ent = world[branch]
        rng = branch_rng(seed + 1, branch)
        present = presence(rng, ent)
        for system in SYSTEMS:
            rows = np.nonzero(present[system])[0]
            cust = customer_table(rng, ent, rows, system, branch)
            wealth = ent.wealth[rows] * SYSTEM_SHARE[system]
            owners = Owners(cust, wealth, branch, business_date, rates)
            accounts = ACCOUNT_BUILDERS[system](rng, owners)
            cust_report, gone = customers_file(rng, out, config, system, branch, cust, day)
            reports.append(cust_report)
            reports.append(
                accounts_file(rng, out, config, system, branch, accounts, cust, gone, rates, day)
            )
    manifest = {
        "business_date": day,
        "seed": seed,
        "branches": list(branches),
        "customers_per_branch": customers,
        "export_filter": {b: export_filter(b) for b in branches},
        "fx_rates": {c: format_rate(r) for c, r in rates.items()},
        "files": [r.as_json(out) for r in reports],
    }
    path = out / day / "sample_manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
