"""How the core systems name things: systems and entities, code letters, numbers, files.

The initial sample and the daily changes both number customers and accounts, and both
name their files; each rule stands here once so that a daily ``A`` can never collide with
an initial key, and a file lands where the fetcher looks for it (core-dumps.md section 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from crm_pipeline.sample.columns import IntArray

SYSTEMS = ("RTL", "CRD", "LON", "FND")
ACCOUNT_ENTITY = {"RTL": "ACCT", "CRD": "ACCT", "LON": "ACCT", "FND": "HOLD"}
# Canonical id type -> CRD letter (core-dumps.md section 6).
CRD_LETTER = {
    "01": "I",
    "02": "R",
    "03": "P",
    "04": "M",
    "05": "H",
    "06": "T",
    "07": "F",
    "21": "O",
    "22": "B",
    "23": "U",
    "99": "X",
}
# Two-digit numbers used inside card and loan numbers, so branches never collide.
BRANCH_NUMBER = {
    "ZJ": 11,
    "NB": 12,
    "WZ": 13,
    "JS": 21,
    "GD": 31,
    "SZ": 32,
    "SD": 41,
    "QD": 42,
    "BJ": 51,
}
CUST_PREFIX = {"RTL": "", "CRD": "C", "LON": "L", "FND": "F"}


def branch_number(branch: str) -> int:
    return BRANCH_NUMBER.get(branch, 60 + sum(map(ord, branch)) % 40)


def cust_no_format(system: str, branch: str) -> tuple[str, int]:
    """Prefix and zero-padded digits of ``system``'s customer numbers at ``branch``."""
    prefix = CUST_PREFIX[system] + branch
    return prefix, 16 - len(prefix) if system == "RTL" else 10


def acct_no_format(system: str, branch: str) -> tuple[str, int]:
    """Prefix and zero-padded digits of ``system``'s account (card, loan, fund) numbers."""
    bn = branch_number(branch)
    return {
        "RTL": (f"62{bn}", 18),
        "CRD": (f"6225{bn}", 10),
        "LON": (f"LN{bn}", 12),
        "FND": (f"FA{branch}", 12),
    }[system]


def seq_codes(prefix: str, numbers: IntArray, digits: int) -> npt.NDArray[np.bytes_]:
    """ASCII keys ``prefix`` + zero-padded ``numbers`` (customer and account numbers)."""
    n = len(numbers)
    p = prefix.encode("ascii")
    m = np.zeros((n, len(p) + digits), dtype=np.uint8)
    m[:, : len(p)] = np.frombuffer(p, dtype=np.uint8)
    for j in range(digits):
        m[:, len(p) + digits - 1 - j] = 48 + (numbers // 10**j) % 10
    return np.ascontiguousarray(m).view(f"S{m.shape[1]}").ravel()


def branch_codes(rng: np.random.Generator, branch: str, n: int) -> npt.NDArray[np.bytes_]:
    """``n`` sub-branch codes of ``branch`` drawn at random (``ZJ07``)."""
    return seq_codes(branch, rng.integers(1, 60, n), 4)


def recode(values: npt.NDArray[np.str_], mapping: dict[str, str]) -> npt.NDArray[np.str_]:
    """Map a small code set over a column, vectorized (one comparison per code)."""
    out = values.astype(f"U{max(len(v) for v in mapping.values())}").copy()
    for code, new in mapping.items():
        out[values == code] = new
    return out


def dump_path(root: Path, day: str, branch: str, system: str, entity: str) -> Path:
    """``root/{D}/{B}/{SYS}_{ENT}_{B}_{D}.dat``: one branch's file of one entity."""
    return root / day / branch / f"{system}_{entity}_{branch}_{day}.dat"


def rates_path(root: Path, day: str) -> Path:
    """``root/{D}/FXR_RATE_{D}.dat``: the bank-wide rate board of one day."""
    return root / day / f"FXR_RATE_{day}.dat"
