"""What one data file of the initial sample holds, line by line, for its manifest entry.

A file is built as a :class:`Pending` (the good rows, the injected lines, and the bulk
rows worth naming), then :func:`write_pending` places the injected lines at random, writes
the file and its flag, and turns rows into the 1-based line numbers the manifest lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from common.config import Layout
from crm_pipeline.sample.amounts import format_fen
from crm_pipeline.sample.branches import province_of
from crm_pipeline.sample.columns import Table, table_len, take_table
from crm_pipeline.sample.writer import Injected, Written, write_data_file


@dataclass
class FileReport:
    """What one data file holds, for the manifest (see the package docstring)."""

    layout: str
    branch: str | None
    written: Written | None = None
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    flagged_ids: list[dict[str, Any]] = field(default_factory=list)
    filtered: list[dict[str, Any]] = field(default_factory=list)
    left_out_by_filter: int = 0
    on_filter: int = 0

    def as_json(self, root: Path) -> dict[str, Any]:
        w = self.written
        assert w is not None
        reasons = Counter(item["reason"] for item in self.set_aside)
        return {
            "file": w.path.relative_to(root).as_posix(),
            "layout": self.layout,
            "branch": self.branch,
            "province": province_of(self.branch) if self.branch else None,
            "records": w.records,
            "bytes": w.size,
            "control_sum": format_fen(w.control_sum),
            "kept": w.records - len(self.set_aside) - len(self.filtered),
            "set_aside": dict(sorted(reasons.items())),
            "filtered": len(self.filtered),
            "flagged": len(self.flagged_ids),
            "left_out_by_filter": self.left_out_by_filter,
            "on_filter": self.on_filter,
            "set_aside_lines": sorted(self.set_aside, key=lambda d: d["line"]),
            "flagged_ids": sorted(self.flagged_ids, key=lambda d: d["line"]),
            "filtered_accounts": sorted(self.filtered, key=lambda d: d["line"]),
        }


@dataclass
class Pending:
    """A file about to be written: good rows, injected lines, and bulk rows worth naming."""

    table: Table
    injected: list[Injected] = field(default_factory=list)
    marks: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # row, list, info
    drop: set[int] = field(default_factory=set)  # good rows replaced by an injected line


def write_pending(
    path: Path, layout: Layout, pending: Pending, rng: np.random.Generator, report: FileReport
) -> None:
    """Drop the replaced rows, place injected lines at random, write, and report lines."""
    n = table_len(pending.table)
    keep = np.ones(n, dtype=bool)
    keep[list(pending.drop)] = False
    new_pos = np.cumsum(keep) - 1
    table = take_table(pending.table, keep)
    kept = int(keep.sum())
    placed = [
        Injected(int(rng.integers(0, kept + 1)), inj.line, inj.reason, inj.key, inj.field)
        for inj in pending.injected
    ]
    written = write_data_file(path, table, layout, placed)
    report.written = written
    for inj, line in zip(placed, written.injected_lines, strict=True):
        if inj.reason is not None:
            item = {"line": line, "reason": inj.reason, "key": inj.key}
            if inj.field:
                item["field"] = inj.field
            report.set_aside.append(item)
    lists = {"set_aside": report.set_aside, "flagged": report.flagged_ids,
             "filtered": report.filtered}  # fmt: skip
    for row, kind, info in pending.marks:
        assert keep[row], "a named bulk row was dropped"
        line = int(written.good_lines[new_pos[row]])
        lists[kind].append({"line": line, **info})
