"""Ingestion's file-wide rules: every copy of a duplicate key set aside, multi-column keys
told apart, a file whose records or control sum disagree with its flag rejected before
anything is staged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import FileRejected
from tests.extract.test_records import CFG, write
from tests.ingesting import ingest_landed
from transform import hashing, ingest


@pytest.mark.parametrize(
    ("hash_bits", "chunk_bytes"),
    [(64, None), (64, 50), (64, 100), (1, None), (1, 50)],
)
def test_duplicate_keys_set_aside_every_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hash_bits: int, chunk_bytes: int | None
) -> None:
    # chunk_bytes=50: a line per chunk, 100: two; the copies are then in different chunks
    # of the chunk file and of the key log
    if hash_bits == 1:  # every key shares its hash: only the strings can tell
        real = hashing.stable_hash
        monkeypatch.setattr(hashing, "stable_hash", lambda v: real(v) % np.uint64(2))
    rows = [
        "H1|C1|F001|100.00|1.0000|100.00|CNY|330100001",
        "H2|C1|F001|10.00|1.5000|15.00|CNY|330100001",
        "H1|C2|F002|1.00|2.0000|2.00|CNY|330100001",
    ]
    path, flag = write(
        tmp_path, "FND_HOLD_ZJ_20261124.dat", ("\n".join(rows) + "\n").encode(), 3, "117.00"
    )
    sizes = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}
    layout = CFG.layouts["FND_HOLD"]
    result = ingest_landed(path, layout, CFG, flag, tmp_path / "h.parquet", "ZJ", **sizes)
    assert pq.read_table(result.staged).column("fund_acct").to_pylist() == ["H2"]
    assert sorted(result.rejects.column("line").to_pylist()) == [1, 3]
    assert all(r.startswith("duplicate key") for r in result.rejects.column("reason").to_pylist())
    left = [p.name for p in tmp_path.iterdir() if p.suffix in (".keys", ".chunks", ".partial")]
    assert left == []  # no key log, chunk file or partial file left behind


def test_key_text_tells_multi_column_keys_apart() -> None:
    keys = pa.table({"a": ["x:1", "x", "x", None, ""], "b": ["y", "1:y", "1:y", "", ""]})
    text = ingest.key_text(keys, ["a", "b"]).to_pylist()
    assert text[1] == text[2]  # the same key
    assert len({text[0], text[1], text[3]}) == 3  # ("x:1","y") and ("x","1:y") differ
    assert text[3] == text[4]  # a null is the value ""


@pytest.mark.parametrize(
    ("records", "control", "message"),
    [(4, "117.00", "3 records, flag says 4"), (3, "117.01", "control sum 117.00")],
)
def test_flag_mismatch_rejects_the_file(
    tmp_path: Path, records: int, control: str, message: str
) -> None:
    rows = [
        "H1|C1|F001|100.00|1.0000|100.00|CNY|330100001",
        "H2|C1|F001|10.00|1.5000|15.00|CNY|330100001",
        "H3|C2|F002|1.00|2.0000|2.00|CNY|330100001",
    ]
    path, flag = write(
        tmp_path, "FND_HOLD_ZJ_20261124.dat", ("\n".join(rows) + "\n").encode(), records, control
    )
    with pytest.raises(FileRejected, match=message):
        ingest_landed(path, CFG.layouts["FND_HOLD"], CFG, flag, tmp_path / "h.parquet", "ZJ")
    assert not list(tmp_path.glob("*.keys"))
