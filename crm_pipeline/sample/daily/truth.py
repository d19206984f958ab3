"""What the core systems hold at one branch after each day: the daily generator's truth.

It starts as the records the pipeline kept from the initial sample (its good lines, read
back with the manifest) and changes only through lines the pipeline must apply, so the
state after the last day is known exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from common.config import Layout, LayoutConfig, layouts
from crm_pipeline.sample.amounts import fen
from crm_pipeline.sample.dates import ymd
from crm_pipeline.sample.naming import SYSTEMS
from crm_pipeline.sample.writer import encoding_of, line_body, line_end

Fields = list[bytes]


def parse_line(line: bytes, layout: Layout) -> Fields:
    """A dump line's field values (unpadded bytes, as `writer.assemble` takes them)."""
    body = line_body(line, layout)
    if layout.format == "delimited":
        encoding = encoding_of(layout)
        return [part.encode(encoding) for part in body.decode(encoding).split("|")]
    out, pos = [], 0
    for spec in layout.fields:
        value = body[pos : pos + (spec.width or 0)]
        pos += spec.width or 0
        out.append(value.rstrip(b" ") if spec.type == "text" else value.strip(b" "))
    return out


@dataclass
class SystemTruth:
    """One system's records at one branch: key -> field values of the full layout."""

    customers: dict[bytes, Fields] = field(default_factory=dict)
    accounts: dict[bytes, Fields] = field(default_factory=dict)


class Branch:
    """The truth of one branch and the day's change files being written for it."""

    def __init__(self, code: str, config: LayoutConfig) -> None:
        self.code = code
        self.config = config
        self.systems = {s: SystemTruth() for s in SYSTEMS}
        self.counter = 0

    # -- layouts and field access --------------------------------------------------------

    def layout(self, system: str, entity: str) -> Layout:
        return self.config.layout_for(system, entity)

    def idx(self, system: str, entity: str, name: str) -> int:
        return self.layout(system, entity).field_names.index(name)

    def get(self, system: str, entity: str, fields: Fields, name: str) -> bytes:
        return fields[self.idx(system, entity, name)]

    def put(self, system: str, entity: str, fields: Fields, name: str, value: bytes) -> Fields:
        out = list(fields)
        out[self.idx(system, entity, name)] = value
        return out

    def retail(self, fields: Fields) -> tuple[str, int]:
        """A retail account's currency and balance in fen (for the export filter)."""
        currency = self.get("RTL", "ACCT", fields, "currency").decode()
        return currency, fen(self.get("RTL", "ACCT", fields, "balance"))

    def next_number(self) -> int:
        self.counter += 1
        return self.counter


def read_initial(landing: Path, d0: date) -> tuple[dict[str, Any], dict[str, Branch]]:
    """The initial sample's manifest, and per branch the records the pipeline kept."""
    day = ymd(d0)
    manifest = json.loads((landing / day / "sample_manifest.json").read_text("utf-8"))
    config = layouts()
    branches = {b: Branch(b, config) for b in manifest["branches"]}
    for item in manifest["files"]:
        if item["layout"] == "FXR_RATE":
            continue
        system, entity = item["layout"].split("_")
        branch = branches[item["branch"]]
        layout = config.layout_for(system, entity)
        bad = {x["line"] for x in item["set_aside_lines"]}
        bad |= {x["line"] for x in item["filtered_accounts"]}
        data = (landing / item["file"]).read_bytes()
        end = line_end(layout)
        target = (
            branch.systems[system].customers
            if layout.role == "customer"
            else branch.systems[system].accounts
        )
        key = layout.field_names.index(layout.key[0])
        for number, line in enumerate(data.split(end)[:-1] if data else [], start=1):
            if number in bad:
                continue
            fields = parse_line(line + end, layout)
            target[fields[key]] = fields
    return manifest, branches
