"""Ingestion composed as the runner composes it, for the tests: the extract reader, the
transform typer and stager, the one flag check (crm_pipeline/runner.py `_ingest_one`)."""

from __future__ import annotations

from pathlib import Path

from common.config import Layout, LayoutConfig
from extract.flag import Flag, read_checker
from extract.lines import CHUNK_BYTES, raw_lines
from extract.records import iter_raw_chunks
from transform.ingest import IngestedFile, ingest_file


def ingest_landed(
    path: Path,
    layout: Layout,
    codes: LayoutConfig,
    flag: Flag,
    staged: Path,
    branch: str,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestedFile:
    """Read, type and stage one landed file; FileRejected when it disagrees with `flag`."""
    chunks = iter_raw_chunks(path, layout, chunk_bytes)
    check = read_checker(path.name, flag)
    return ingest_file(chunks, path, layout, codes, staged, branch, raw_lines, check)
