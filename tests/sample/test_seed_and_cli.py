"""The sample by seed and from the command line.

Everything here is recomputed independently of the generator's code (see dumps.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_pipeline.cli import main
from crm_pipeline.sample import write_sample
from tests.sample.dumps import (
    DAY,
    D,
)


def test_deterministic_by_seed(tmp_path: Path) -> None:
    def tree(seed: int, name: str) -> dict[str, bytes]:
        out = tmp_path / name
        write_sample(out, DAY, ["ZJ", "NB"], 80, seed)
        return {
            p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    first, again, other = tree(5, "a"), tree(5, "b"), tree(6, "c")
    assert first == again
    assert first.keys() == other.keys() and first != other


def test_cli_and_empty_branch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "sample",
            "--out",
            str(tmp_path),
            "--date",
            D,
            "--branches",
            "SD,QD",
            "--customers",
            "0",
            "--seed",
            "3",
        ]
    )
    assert status == 0
    manifest = json.loads((tmp_path / D / "sample_manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["files"]:
        if entry["branch"]:
            assert entry["records"] == 0 and (tmp_path / entry["file"]).read_bytes() == b""
            assert (tmp_path / entry["file"]).with_suffix(
                ".ok"
            ).read_text() == f"{Path(entry['file']).name}|0|0|0.00\n"
    assert str(tmp_path) in capsys.readouterr().out
