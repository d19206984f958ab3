"""Reconciliation: every data file's read = kept + set aside + filtered, checked before
anything is published; and the province's set-aside records as a file an operator opens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from common.batch import FileCounts
from common.errors import PipelineError


def count_by_file(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    counts = table.group_by("file").aggregate([("file", "count")])
    return dict(
        zip(counts.column("file").to_pylist(), counts.column("file_count").to_pylist(), strict=True)
    )


def reconciled_counts(
    ingested: Sequence[dict[str, Any]],
    kept: dict[str, int],
    set_aside_later: dict[str, int],
    filtered: dict[str, int],
    flagged: dict[str, int],
) -> list[FileCounts]:
    """Each ingested file's FileCounts; PipelineError unless read = kept + set aside + filtered.

    `ingested` are the ingest step's records (read and set aside at parsing); the dicts,
    by file name, add what later steps kept, set aside, filtered and flagged.
    """
    files = [
        FileCounts(
            file=r["file"],
            branch=r["branch"],
            system=r["system"],
            entity=r["entity"],
            read=r["read"],
            kept=kept.get(r["file"], 0),
            set_aside=r["set_aside"] + set_aside_later.get(r["file"], 0),
            filtered=filtered.get(r["file"], 0),
            flagged=flagged.get(r["file"], 0),
        )
        for r in ingested
    ]
    check_reconciled(files)
    return files


def check_reconciled(files: Sequence[FileCounts]) -> None:
    unbalanced = [f for f in files if not f.balanced()]
    if unbalanced:
        raise PipelineError(
            "reconciliation failed: "
            + "; ".join(
                f"{f.file}: read {f.read} != kept {f.kept} + set aside {f.set_aside}"
                f" + filtered {f.filtered}"
                for f in unbalanced
            )
        )


def write_reject_file(rejects: pa.Table, path: Path) -> Path:
    """The province's set-aside records as a CSV an operator can open: file, line, reason,
    field, branch and the raw record as sent (UTF-8; undecodable bytes as \\xNN escapes).
    """

    ordered = rejects.select(["file", "line", "reason", "field", "branch", "raw"]).sort_by(
        [("file", "ascending"), ("line", "ascending")]
    )
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(ordered, tmp)
    tmp.replace(path)
    return path
