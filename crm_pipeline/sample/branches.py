"""The branches of a sample run: their province, random stream, wealth and export filter.

Each branch draws from its own generator (derived from the run's seed and the branch
code), so a branch's files do not change when other branches are added to the run.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import numpy.typing as npt

from common.config import provinces

DEFAULT_BRANCHES = ("ZJ", "NB", "GD", "SZ")
# Per province: wealth scale (so that 10-40% of customers qualify against its threshold)
# and the RTL initial export filter in CNY (reference-formulas.md; ZJ's for the others).
WEALTH_SCALE = {"ZJ": 1.0, "JS": 1.0, "GD": 1.6, "SD": 0.6, "BJ": 2.0}
EXPORT_FILTER = {"ZJ": 50_000, "JS": 50_000, "GD": 100_000, "SD": 30_000, "BJ": 50_000}


def branch_rng(seed: int, branch: str) -> np.random.Generator:
    return np.random.default_rng([seed, *branch.encode("ascii")])


def province_of(branch: str) -> str:
    return provinces().province_of(branch) or branch


def wealth_scale(branch: str) -> float:
    return WEALTH_SCALE.get(province_of(branch), 1.0)


def export_filter(branch: str) -> int:
    """The RTL export filter of ``branch``'s province, in whole CNY."""
    return EXPORT_FILTER.get(province_of(branch), EXPORT_FILTER["ZJ"])


def filter_limit(branch: str) -> int:
    """The export filter in the unit of ``fen x rate`` (1/10000 CNY per 100 units)."""
    return export_filter(branch) * 10**8


@overload
def under_filter(fen: int, rate: int, branch: str) -> bool: ...
@overload
def under_filter(
    fen: npt.NDArray[np.int64], rate: npt.NDArray[np.int64], branch: str
) -> npt.NDArray[np.bool_]: ...
def under_filter(fen: Any, rate: Any, branch: str) -> Any:
    """Whether a retail balance is strictly under the filter (core-dumps.md section 8)."""
    return fen * rate < filter_limit(branch)
