"""The sample's files: exactly as core-dumps.md lays them out, flags that agree with the bytes.

Everything here is recomputed independently of the generator's code (see dumps.py).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from common.config import layouts
from tests.sample.dumps import (
    AMOUNT,
    BRANCHES,
    CONTROL,
    INITIAL_FILES,
    D,
    lines_of,
)


def test_layout_of_every_file(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    expected = {f"{D}/FXR_RATE_{D}.dat"} | {
        f"{D}/{b}/{s}_{e}_{b}_{D}.dat" for b in BRANCHES for s, e in INITIAL_FILES
    }
    assert {e["file"] for e in manifest["files"]} == expected
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.dat")}
    assert on_disk == expected
    assert all((root / f).with_suffix(".ok").is_file() for f in expected)


def test_fixed_width_lines_are_exact(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    for entry in manifest["files"]:
        width = {"RTL_CUST": 258, "RTL_ACCT": 89}.get(entry["layout"])
        if width is None:
            continue
        short_long = {i["line"] for i in entry["set_aside_lines"] if i["reason"] == "byte_length"}
        assert short_long, entry["file"]
        data = (root / entry["file"]).read_bytes()
        lines = data.split(b"\r\n")
        assert lines[-1] == b"" and b"\n" not in data.replace(b"\r\n", b"")
        for no, line in enumerate(lines[:-1], 1):
            assert (len(line) != width) == (no in short_long), (entry["file"], no, len(line))


def test_flags_agree_with_bytes_records_and_control_sum(
    sample: tuple[Path, dict[str, Any]],
) -> None:
    root, manifest = sample
    for entry in manifest["files"]:
        path = root / entry["file"]
        spec = layouts().layouts[entry["layout"]]
        crlf = spec.line_end == "crlf"
        lines = lines_of(path, crlf)
        total = Decimal("0.00")
        control = CONTROL.get(entry["layout"])
        for line in lines:
            if control is None:
                continue
            i = spec.field_names.index(control)
            if spec.format == "fixed":
                if len(line) != spec.record_width + 2:
                    continue
                start = sum(f.width or 0 for f in spec.fields[:i])
                value = (
                    line[start : start + (spec.fields[i].width or 0)]
                    .strip()
                    .decode("ascii", "replace")
                )
            else:
                parts = line.rstrip(b"\n").split(b"|")  # structural only: amounts are ASCII
                try:
                    decoded = line.rstrip(b"\n").decode(spec.encoding).split("|")
                except UnicodeDecodeError:
                    decoded = [p.decode("ascii", "replace") for p in parts]
                if len(decoded) != len(spec.fields):
                    continue
                value = decoded[i]
            if AMOUNT.fullmatch(value):
                total += Decimal(value)
        flag = f"{path.name}|{path.stat().st_size}|{len(lines)}|{total:.2f}\n"
        assert path.with_suffix(".ok").read_bytes() == flag.encode("ascii")
        assert (entry["bytes"], entry["records"], entry["control_sum"]) == (
            path.stat().st_size,
            len(lines),
            f"{total:.2f}",
        )


def test_decoding(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    for entry in manifest["files"]:
        spec = layouts().layouts[entry["layout"]]
        undecodable = {i["line"] for i in entry["set_aside_lines"] if i["reason"] == "decode"}
        for no, line in enumerate(lines_of(root / entry["file"], spec.line_end == "crlf"), 1):
            try:
                line.decode(spec.encoding)
                ok = True
            except UnicodeDecodeError:
                ok = False
            assert ok != (no in undecodable), (entry["file"], no)
            if ok and spec.format == "delimited":
                # No GB18030 trail byte 0x7C: splitting bytes or text gives the same fields.
                assert line.count(b"|") == line.decode(spec.encoding).count("|")
