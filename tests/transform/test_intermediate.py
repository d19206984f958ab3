"""Intermediate files: Parquet or Arrow IPC by suffix, read back alike by one reader."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from common.intermediate import PartWriter, num_rows, read_schema, read_table, write_table

TABLE = pa.table(
    {
        "acct_no": ["6211001", "6211002", None],
        "source": ["RTL", "CRD", "RTL"],
        "balance": pa.array([Decimal("1.50"), Decimal("-2.00"), None], pa.decimal128(20, 2)),
        "line": pa.array([1, 2, 3], pa.int64()),
    }
)


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_table_reads_back_as_written(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"0000{suffix}"
    write_table(TABLE, path)
    assert read_table(path).equals(TABLE)
    assert read_table(path, ["line", "acct_no", "absent"]).equals(TABLE.select(["line", "acct_no"]))
    assert read_schema(path).equals(TABLE.schema)
    assert num_rows(path) == 3


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_a_part_written_slice_by_slice_keeps_its_rows_in_order(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"0001{suffix}"
    with PartWriter(path, TABLE.schema) as writer:
        writer.write(TABLE.slice(0, 2))
        writer.write(TABLE.slice(2))
        writer.write(TABLE.slice(0, 1))
    assert num_rows(path) == 4
    assert read_table(path).to_pylist() == TABLE.to_pylist() + TABLE.slice(0, 1).to_pylist()


def test_the_suffix_decides_the_format(tmp_path: Path) -> None:
    write_table(TABLE, tmp_path / "a.arrow")
    write_table(TABLE, tmp_path / "a.parquet")
    assert (tmp_path / "a.arrow").read_bytes()[:6] == b"ARROW1"
    assert (tmp_path / "a.parquet").read_bytes()[:4] == b"PAR1"


def test_ipc_files_are_compressed(tmp_path: Path) -> None:
    # sparse decimal columns take sixteen bytes a row in memory; on disk they must not
    # (a 30-million-account run filled the disk with uncompressed IPC intermediates)
    sparse = pa.table({"overdraft": pa.nulls(200_000, pa.decimal128(20, 2))})
    write_table(sparse, tmp_path / "sparse.arrow")
    assert (tmp_path / "sparse.arrow").stat().st_size < sparse.nbytes // 10
    assert read_table(tmp_path / "sparse.arrow").equals(sparse)
