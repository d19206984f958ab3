"""Reading the sample's dumps independently of the generator's code (own slicing by bytes,
own decoding), so a generator bug cannot hide behind itself."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from common.config import layouts
from tests.oracle import CRD_ID_TYPES

DAY = date(2026, 11, 24)
D = "20261124"
BRANCHES = ["ZJ", "NB", "GD", "SZ"]
AMOUNT = re.compile(r"-?[0-9]+\.[0-9]{2}")
CONTROL = {
    "RTL_ACCT": "balance",
    "CRD_ACCT": "deposit_balance",
    "LON_ACCT": "principal_balance",
    "FND_HOLD": "market_value",
}
CRD_TYPES = CRD_ID_TYPES
# (system, entity) of every branch file of an initial load (core-dumps.md section 1).
INITIAL_FILES = [
    (system, entity)
    for system in ("RTL", "CRD", "LON", "FND")
    for entity in ("CUST", "HOLD" if system == "FND" else "ACCT")
]


def lines_of(path: Path, crlf: bool) -> list[bytes]:
    data = path.read_bytes()
    end = b"\r\n" if crlf else b"\n"
    assert data == b"" or data.endswith(end)
    return [line + end for line in data.split(end)[:-1]]


def fields_of(line: bytes, layout: str) -> list[str] | None:
    """A good line's fields (decoded, trimmed), sliced by bytes for fixed-width layouts."""
    spec = layouts().layouts[layout]
    enc = spec.encoding
    if spec.format == "fixed":
        body = line[:-2]
        out, pos = [], 0
        for f in spec.fields:
            w = f.width or 0
            out.append(body[pos : pos + w].decode(enc).strip())
            pos += w
        return out
    parts = line.rstrip(b"\n").decode(enc).split("|")
    return parts if len(parts) == len(spec.fields) else None


def record(line: bytes, layout: str) -> dict[str, str]:
    values = fields_of(line, layout)
    assert values is not None, line
    return dict(zip(layouts().layouts[layout].field_names, values, strict=True))


def records(root: Path, manifest: dict[str, Any], layout: str) -> list[tuple[str, dict[str, str]]]:
    """(branch, record) for every line of ``layout`` files that the pipeline keeps."""
    names = layouts().layouts[layout].field_names
    out = []
    for entry in manifest["files"]:
        if entry["layout"] != layout:
            continue
        bad = {item["line"] for item in entry["set_aside_lines"]}
        bad |= {item["line"] for item in entry["filtered_accounts"]}
        crlf = layouts().layouts[layout].line_end == "crlf"
        for no, line in enumerate(lines_of(root / entry["file"], crlf), 1):
            if no not in bad:
                values = fields_of(line, layout)
                assert values is not None, (entry["file"], no)
                out.append((entry["branch"], dict(zip(names, values, strict=True))))
    return out
