"""Formula trials and acceptances, kept as an append-only history.

A formula goes live only through `accept`, which needs a trial of the very same content
(same sha256); the history of what was tried, accepted and in force is kept so that any
`formula_id` in the warehouse can be traced to its text. Today it is a JSON-lines file
under the staging directory; the class is the seam to move it into the warehouse later
(one table, same records) without touching the command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class TrialRecord:
    file: str  # the formula file's name (what `accept` replaces in the formulas directory)
    sha256: str  # of the candidate file's content
    business_date: str
    provinces: list[str]
    qualified: dict[str, dict[str, int]]  # province -> cust_type -> count with the candidate
    report: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    event: str = "trial"


@dataclass
class AcceptRecord:
    file: str
    sha256: str
    effective_date: str
    formula_ids: dict[str, dict[str, str]]  # province -> cust_type -> formula id
    trial: dict[str, Any]  # the trial record it rests on
    content: str  # the accepted text itself: every formula id stays traceable
    by: str = field(default_factory=lambda: os.environ.get("USER", "unknown"))
    note: str = ""
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    event: str = "accepted"


class FormulaRegistry:
    """Append-only history of formula trials and acceptances (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def record_trial(self, record: TrialRecord) -> None:
        self._append(asdict(record))

    def record_acceptance(self, record: AcceptRecord) -> None:
        self._append(asdict(record))

    def trials(self, file: str) -> list[dict[str, Any]]:
        """Trials of a file name, oldest first."""
        return [r for r in self.records() if r.get("event") == "trial" and r.get("file") == file]

    def latest_trial(self, file: str, sha256: str) -> dict[str, Any] | None:
        """The latest trial of exactly this content, if any."""
        matching = [r for r in self.trials(file) if r.get("sha256") == sha256]
        return matching[-1] if matching else None

    def history(self) -> list[dict[str, Any]]:
        """Every accepted formula file, oldest first: the formulas in force over time."""
        return [r for r in self.records() if r.get("event") == "accepted"]

    def find_formula(self, formula_id: str) -> dict[str, Any] | None:
        """The acceptance that produced `formula_id` (to trace a stored score to its text)."""
        for record in reversed(self.history()):
            for ids in record.get("formula_ids", {}).values():
                if formula_id in ids.values():
                    return record
        return None
