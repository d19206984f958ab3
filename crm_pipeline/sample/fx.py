"""The day's FX board: rates as integers of 1/10000 CNY per 100 units, and conversions.

Rates are integers so that the export filter (``fen x rate`` against ``filter x 10**8``)
is decided exactly, by the generator as by the pipeline.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.config import layouts
from crm_pipeline.sample.columns import Dates, IntArray, Table
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.naming import rates_path
from crm_pipeline.sample.pools import BASE_RATES
from crm_pipeline.sample.writer import Written, write_data_file

CNY_RATE = 1_000_000  # 100 CNY in 1/10000 CNY


def fx_rates(rng: np.random.Generator) -> dict[str, int]:
    """The day's board rates in 1/10000 CNY per 100 units, jittered by up to 1%."""
    out = {}
    for code in sorted(BASE_RATES):
        base = BASE_RATES[code]
        out[code] = max(1, int(round(base * (1 + rng.uniform(-0.01, 0.01)) * 10_000)))
    return out


def format_rate(rate: int) -> str:
    """A rate as ``cny_per_100``: up to four decimals, zeros beyond two dropped (``712.35``)."""
    whole, frac = divmod(rate, 10_000)
    return f"{whole}.{f'{frac:04d}'.rstrip('0').ljust(2, '0')}"


def rate_units(text: str) -> int:
    """A ``cny_per_100`` (``712.35``) in 1/10000, the unit of :func:`fx_rates`."""
    return int(Decimal(text) * 10_000)


def rate_table(rates: dict[str, int], business_date: date) -> Table:
    """The records of ``FXR_RATE``, one per currency."""
    day = int(ymd(business_date))
    return {
        "currency": np.array(sorted(rates), dtype="S3"),
        "cny_per_100": np.array([format_rate(rates[c]) for c in sorted(rates)], dtype="S"),
        "rate_date": Dates(np.full(len(rates), day, dtype=np.int64)),
    }


def rate_of(currency: npt.NDArray[np.str_], rates: dict[str, int]) -> IntArray:
    """Each row's rate in 1/10000 CNY per 100 units (CNY: 1,000,000); vectorized."""
    out = np.full(len(currency), CNY_RATE, dtype=np.int64)
    for code, rate in rates.items():
        out[currency == code] = rate
    return out


def to_units(
    cny: npt.NDArray[np.float64], currency: npt.NDArray[np.str_], rates: dict[str, int]
) -> IntArray:
    """CNY amounts (float, only to draw them) as fen of ``currency`` at ``rates``."""
    return np.round(cny * 100_000_000 / rate_of(currency, rates)).astype(np.int64)


def write_rates(root: Path, business_date: date, rates: dict[str, int]) -> Written:
    """``FXR_RATE`` of one day under ``root`` (the landing or a full-dump folder)."""
    return write_data_file(
        rates_path(root, ymd(business_date)),
        rate_table(rates, business_date),
        layouts().layouts["FXR_RATE"],
    )
