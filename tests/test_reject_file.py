"""The operator's reject file: every set-aside record, readable, with its raw content intact."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa

from common.schema import REJECT
from crm_pipeline.reconcile import write_reject_file


def test_reject_file_keeps_raw_records_with_commas_quotes_and_chinese(tmp_path: Path) -> None:
    raw = ['A1|王"五",杭州|1.00', "B2|\\xd5\\xc5|x"]
    rejects = pa.table(
        {
            "file": ["F_B.dat", "F_A.dat"],
            "line": [7, 3],
            "raw": raw,
            "reason": ["undecodable bytes", "not an amount: balance='x'"],
            "field": [None, "balance"],
            "branch": ["NB", "ZJ"],
        },
        schema=REJECT,
    )
    path = write_reject_file(rejects, tmp_path / "rejects.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], r["line"]) for r in rows] == [("F_A.dat", "3"), ("F_B.dat", "7")]
    assert [r["raw"] for r in rows] == [raw[1], raw[0]]
    assert rows[1]["field"] == "" and rows[0]["field"] == "balance"
