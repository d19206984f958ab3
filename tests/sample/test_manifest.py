"""The sample's manifest: it says exactly what was injected, line by line.

Everything here is recomputed independently of the generator's code (see dumps.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from common.config import layouts, provinces
from tests.oracle import normalize_id
from tests.sample.dumps import (
    AMOUNT,
    CRD_TYPES,
    fields_of,
    lines_of,
    record,
    records,
)


def test_manifest_reconciles_every_file(sample: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = sample
    reasons = {
        "field_count",
        "byte_length",
        "decode",
        "date",
        "amount",
        "int",
        "code",
        "duplicate_key",
        "orphan",
    }
    seen: Counter[str] = Counter()
    for entry in manifest["files"]:
        aside = entry["set_aside"]
        assert entry["records"] == entry["kept"] + sum(aside.values()) + entry["filtered"]
        assert Counter(i["reason"] for i in entry["set_aside_lines"]) == Counter(aside)
        assert len(entry["flagged_ids"]) == entry["flagged"]
        assert len(entry["filtered_accounts"]) == entry["filtered"]
        lines = [
            i["line"]
            for i in entry["set_aside_lines"] + entry["filtered_accounts"] + entry["flagged_ids"]
        ]
        assert len(lines) == len(set(lines)) and all(1 <= n <= entry["records"] for n in lines)
        seen.update(aside)
        if entry["layout"] == "RTL_ACCT":
            assert entry["filtered"] > 0 and entry["left_out_by_filter"] > 0
        if entry["layout"].endswith("_CUST"):
            assert entry["flagged"] > 0
    assert set(seen) == reasons


def test_injected_lines_are_what_the_manifest_says(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    for entry in manifest["files"]:
        spec = layouts().layouts[entry["layout"]]
        lines = lines_of(root / entry["file"], spec.line_end == "crlf")
        dup_keys: Counter[str] = Counter()
        for item in entry["set_aside_lines"]:
            line = lines[item["line"] - 1]
            reason = item["reason"]
            if reason == "field_count":
                assert len(line.decode(spec.encoding).split("|")) != len(spec.fields)
            elif reason in ("date", "amount", "int", "code"):
                values = fields_of(line, entry["layout"])
                assert values is not None
                value = values[spec.field_names.index(item["field"])]
                if reason == "date":
                    assert value in ("20261332", "20260230", "2026013A")
                elif reason == "amount":
                    assert not AMOUNT.fullmatch(value)
                elif reason == "int":
                    assert not value.isdigit()
                else:
                    codes = layouts().code_values(
                        str(spec.fields[spec.field_names.index(item["field"])].codes)
                    )
                    assert value not in codes
            if reason == "duplicate_key":
                dup_keys[item["key"]] += 1
            if reason != "decode":
                assert item["key"].encode() in line
        assert all(count == 2 for count in dup_keys.values())


def test_orphans_flagged_and_filtered(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    kept_customers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for system in ("RTL", "CRD", "LON", "FND"):
        for branch, rec in records(root, manifest, f"{system}_CUST"):
            kept_customers[(provinces().province_of(branch) or branch, system)].add(rec["cust_no"])
    rates = {c: Decimal(r) for c, r in manifest["fx_rates"].items()} | {"CNY": Decimal(100)}
    for entry in manifest["files"]:
        spec = layouts().layouts[entry["layout"]]
        if spec.role != "account":
            continue
        system = entry["layout"][:3]
        known = kept_customers[(entry["province"], system)]
        lines = lines_of(root / entry["file"], spec.line_end == "crlf")
        orphan_lines = {i["line"] for i in entry["set_aside_lines"] if i["reason"] == "orphan"}
        bad_lines = {i["line"] for i in entry["set_aside_lines"]}
        for no, line in enumerate(lines, 1):
            values = (
                fields_of(line, entry["layout"]) if no not in bad_lines - orphan_lines else None
            )
            if values is None:
                continue
            rec = dict(zip(spec.field_names, values, strict=True))
            assert (rec["cust_no"] not in known) == (no in orphan_lines), (entry["file"], no)
        if system == "RTL":
            limit = Decimal(manifest["export_filter"][entry["branch"]])
            for item in entry["filtered_accounts"]:
                rec = record(lines[item["line"] - 1], "RTL_ACCT")
                assert Decimal(rec["balance"]) * rates[rec["currency"]] / 100 < limit
            for no, line in enumerate(lines, 1):
                if no in bad_lines or no in {i["line"] for i in entry["filtered_accounts"]}:
                    continue
                rec = record(line, "RTL_ACCT")
                assert Decimal(rec["balance"]) * rates[rec["currency"]] / 100 >= limit
    for entry in manifest["files"]:
        if not entry["layout"].endswith("_CUST"):
            continue
        lines = lines_of(root / entry["file"], entry["layout"] == "RTL_CUST")
        for item in entry["flagged_ids"]:
            rec = record(lines[item["line"] - 1], entry["layout"])
            id_type = CRD_TYPES.get(rec["id_type"], rec["id_type"])
            assert rec["id_no"] == item["id_no"] and not normalize_id(id_type, rec["id_no"])[1]
