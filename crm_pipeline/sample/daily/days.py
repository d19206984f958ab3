"""Business dates D1..Dn after the initial sample: rates, change files and manifests.

One random stream per branch and day (from the seed, the day number and the branch), so
a day's files do not depend on the other branches of the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from common.config import layouts
from crm_pipeline.sample.branches import under_filter
from crm_pipeline.sample.daily.full_dumps import write_full
from crm_pipeline.sample.daily.maker import DayMaker
from crm_pipeline.sample.daily.state import TXN_SYSTEMS
from crm_pipeline.sample.daily.truth import Branch, read_initial
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.fx import rate_units, write_rates
from crm_pipeline.sample.naming import ACCOUNT_ENTITY, SYSTEMS, dump_path
from crm_pipeline.sample.writer import write_lines


def _crosses_filter(branches: dict[str, Branch], currency: str, old: int, new: int) -> bool:
    """Whether some retail account in ``currency`` changes sides of its filter."""
    for branch in branches.values():
        for fields in branch.systems["RTL"].accounts.values():
            code, balance = branch.retail(fields)
            if code != currency:
                continue
            if under_filter(balance, old, branch.code) != under_filter(balance, new, branch.code):
                return True
    return False


def move_rates(
    rng: np.random.Generator, branches: dict[str, Branch], rates: dict[str, int]
) -> dict[str, int]:
    """Move one currency's rate by 0.3% where no retail account crosses its filter."""
    for currency in [str(c) for c in rng.permutation(sorted(rates))]:
        new = round(rates[currency] * 1.003)
        crossing = _crosses_filter(branches, currency, rates[currency], new)
        held = any(
            branch.get(s, ACCOUNT_ENTITY[s], f, "currency").decode() == currency
            for branch in branches.values()
            for s in SYSTEMS
            for f in branch.systems[s].accounts.values()
        )
        if held and not crossing:
            return {**rates, currency: new}
    return rates


def _entry(
    landing: Path, path: Path, layout: str, branch: str, info: dict[str, Any]
) -> dict[str, Any]:
    """One file's line of the daily manifest."""
    return {"file": path.relative_to(landing).as_posix(), "layout": layout, "branch": branch,
            **info}  # fmt: skip


def write_day(
    landing: Path,
    day: date,
    index: int,
    branches: dict[str, Branch],
    rates: dict[str, int],
    *,
    seed: int = 1,
    change_rate: float = 0.05,
    make: Callable[[DayMaker], None] = DayMaker.make,
) -> Path:
    """Write one business date's files for every branch; returns its manifest.

    `make` decides what the day changes (default: everything `DayMaker.make` does); tests
    pass their own to build one precise situation.
    """
    config = layouts()
    write_rates(landing, day, rates)
    files: list[dict[str, Any]] = []
    moved: list[tuple[str, str, str, str]] = []
    new_customers: list[tuple[str, str, str]] = []
    for code, branch in branches.items():
        rng = np.random.default_rng([seed, index, *code.encode()])
        maker = DayMaker(branch, day, rng, rates, change_rate, index)
        make(maker)
        moved += [(code, *m) for m in maker.moved]
        new_customers += [(code, *c) for c in maker.new_customers]

        for (system, entity), lines in maker.files.items():
            layout = config.layout_for(system, entity)
            order = maker.rng.permutation(len(lines.lines))
            path = dump_path(landing, ymd(day), code, system, entity)
            info = write_lines(path, [lines.lines[int(i)] for i in order], layout)
            info |= {
                "applied": lines.applied,
                "ignored": lines.ignored,
                "set_aside": len(lines.set_aside),
                "set_aside_reasons": sorted(lines.set_aside),
            }
            files.append(_entry(landing, path, f"{system}_{entity}", code, info))
        for system in TXN_SYSTEMS:
            path = dump_path(landing, ymd(day), code, system, "TXN")
            info = write_lines(path, maker.txn_lines[system], config.layout_for(system, "TXN"))
            info["set_aside"] = maker.txn_set_aside[system]
            files.append(_entry(landing, path, f"{system}_TXN", code, info))
    manifest = {
        "business_date": ymd(day),
        "day": index,
        "seed": seed,
        "fx_rates": {c: str(Decimal(r) / 10_000) for c, r in sorted(rates.items())},
        "moved_ids": moved,
        "new_customers": new_customers,
        "files": files,
    }
    out = landing / ymd(day) / "daily_manifest.json"
    out.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def write_daily(
    landing: Path,
    d0: date,
    days: int,
    *,
    seed: int = 1,
    change_rate: float = 0.05,
    rate_move_days: Sequence[int] = (3,),
    full_out: Path | None = None,
) -> list[Path]:
    """Write D1..D`days` after the initial sample of `d0` in `landing`; their manifests.

    `change_rate` is the share of each system's open accounts whose balance changes per
    day (customers: half that share get a contact update); `rate_move_days` the day
    numbers on which one currency's rate moves (the others keep D0's rates).
    """
    manifest, branches = read_initial(landing, d0)
    rates = {c: rate_units(r) for c, r in manifest["fx_rates"].items()}
    written = []
    day = d0
    for index in range(1, days + 1):
        day = d0 + timedelta(days=index)
        if index in rate_move_days:
            rates = move_rates(np.random.default_rng([seed, index, 0]), branches, rates)
        written.append(
            write_day(landing, day, index, branches, rates, seed=seed, change_rate=change_rate)
        )
    if full_out is not None:
        write_full(full_out, day, branches, rates)
    return written
