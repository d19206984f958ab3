"""Dates as ``YYYYMMDD`` integers, drawn and shifted vectorized (a column at a time)."""

from __future__ import annotations

from datetime import date

import numpy as np

from crm_pipeline.sample.columns import IntArray


def days_to_yyyymmdd(days: IntArray) -> IntArray:
    """Days since 1970-01-01 to YYYYMMDD integers, vectorized."""
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (d - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year * 10000 + month * 100 + day


def add_months(yyyymmdd: IntArray, months: IntArray) -> IntArray:
    """A date plus whole months, the day clipped to 28 (maturity dates)."""
    year, rest = np.divmod(yyyymmdd, 10000)
    month, day = np.divmod(rest, 100)
    total = year * 12 + (month - 1) + months
    y, m = np.divmod(total, 12)
    return y * 10000 + (m + 1) * 100 + np.minimum(day, 28)


def epoch_days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def random_dates(rng: np.random.Generator, n: int, start: date, end: date) -> IntArray:
    """``n`` dates drawn uniformly from ``start`` (included) to ``end`` (excluded)."""
    return days_to_yyyymmdd(rng.integers(epoch_days(start), epoch_days(end), n))


def ymd(day: date) -> str:
    """A business date as the dumps name it (``20261124``)."""
    return day.strftime("%Y%m%d")
