"""The benchmark's dump: province ZJ and its city branch NB, sized by account records.

Generated once per size and seed under the work folder (a ``READY`` file marks it
complete) and reused by later runs; the input figures are read from its flags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from common.config import layouts
from crm_pipeline.sample import write_sample

DAY = date(2026, 11, 24)
D = DAY.strftime("%Y%m%d")
PROVINCE = "ZJ"
BRANCHES = ("ZJ", "NB")
# Account records the generator writes per customer of a branch, all four systems together
# (measured: 103,429 accounts for 2 x 20,000 customers at seed 7).
ACCOUNTS_PER_CUSTOMER = 2.586
SYSTEM_FILES = (
    ("RTL", ("CUST", "ACCT")),
    ("CRD", ("CUST", "ACCT")),
    ("LON", ("CUST", "ACCT")),
    ("FND", ("CUST", "HOLD")),
)


def landing_dir(work: Path, accounts: int, seed: int) -> Path:
    return work / f"landing-{accounts}-s{seed}"


def customers_for(accounts: int) -> int:
    return max(1, round(accounts / (ACCOUNTS_PER_CUSTOMER * len(BRANCHES))))


@dataclass
class InputFiles:
    files: list[tuple[str, str, Path]]  # (branch, layout, path), province first
    fx: Path
    roles: dict[str, str]  # layout -> customer | account

    def size(self, role: str | None = None) -> int:
        return sum(p.stat().st_size for _, lay, p in self.files if role in (None, self.roles[lay]))

    def records(self, role: str | None = None) -> int:
        """Records of the files (of one role), counted by their flags."""
        total = 0
        for _, lay, p in self.files:
            if role in (None, self.roles[lay]):
                flag = p.with_suffix(".ok").read_text().split("|")
                total += int(flag[2]) if len(flag) > 2 else 0
        return total


def input_files(landing: Path) -> InputFiles:
    config = layouts()
    files = []
    roles: dict[str, str] = {}
    for branch in BRANCHES:
        for system, entities in SYSTEM_FILES:
            for entity in entities:
                layout = f"{system}_{entity}"
                roles[layout] = config.layouts[layout].role
                files.append((branch, layout, landing / D / branch / f"{layout}_{branch}_{D}.dat"))
    return InputFiles(files, landing / D / f"FXR_RATE_{D}.dat", roles)


def generate_child(args: dict[str, Any]) -> dict[str, Any]:
    """Write the dump (a child process of its own: its time and memory are not the bench's)."""
    started = time.perf_counter()
    write_sample(Path(args["out"]), DAY, list(BRANCHES), int(args["customers"]), int(args["seed"]))
    return {"seconds": time.perf_counter() - started}
