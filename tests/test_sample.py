"""The synthetic dump generator: files exactly as core-dumps.md lays them out, flags that
agree with the bytes, and a manifest that says what was injected.

Everything here is recomputed independently of the generator's code (own parsing, own
check-character arithmetic, own scoring), so a generator bug cannot hide behind itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from common.config import layouts, provinces
from crm_pipeline.cli import main
from crm_pipeline.sample import write_sample
from tests.oracle import CRD_ID_TYPES, normalize_id

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


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("outbound")
    manifest = write_sample(out, DAY, BRANCHES, 600, seed=11)
    return out, json.loads(manifest.read_text(encoding="utf-8"))


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


# --- independent check characters (GB 11643, GB 11714, GB 32100): tests/oracle.py ----

normalize = normalize_id


# --- the tests ------------------------------------------------------------------------


def test_layout_of_every_file(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    expected = {f"{D}/FXR_RATE_{D}.dat"} | {
        f"{D}/{b}/{s}_{e}_{b}_{D}.dat"
        for b in BRANCHES
        for s, e in [
            ("RTL", "CUST"),
            ("RTL", "ACCT"),
            ("CRD", "CUST"),
            ("CRD", "ACCT"),
            ("LON", "CUST"),
            ("LON", "ACCT"),
            ("FND", "CUST"),
            ("FND", "HOLD"),
        ]
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
            assert rec["id_no"] == item["id_no"] and not normalize(id_type, rec["id_no"])[1]


def test_identity_numbers_and_variants(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    flagged = {
        (e["file"].split("/")[1], i["cust_no"]) for e in manifest["files"] for i in e["flagged_ids"]
    }
    variants: Counter[str] = Counter()
    orgs, usccs = set(), set()
    for system in ("RTL", "CRD", "LON", "FND"):
        for branch, rec in records(root, manifest, f"{system}_CUST"):
            id_type = CRD_TYPES[rec["id_type"]] if system == "CRD" else rec["id_type"]
            raw = rec["id_no"]
            number, ok = normalize(id_type, raw)
            assert ok != ((branch, rec["cust_no"]) in flagged), (system, rec)
            if id_type == "01" and len(raw) == 15:
                variants["legacy15"] += 1
            if raw.endswith("x"):
                variants["lower_x"] += 1
            if any("\uff10" <= c <= "\uff19" for c in raw):
                variants["full_width"] += 1
            if "\u3000" in raw:
                variants["ideographic_space"] += 1
            if " " in raw:
                variants["ascii_space"] += 1
            if ok and id_type == "21":
                orgs.add(number)
            if ok and id_type == "23":
                usccs.add(number[8:17])
    assert all(
        variants[k] > 0
        for k in ("legacy15", "lower_x", "full_width", "ideographic_space", "ascii_space")
    ), variants
    assert len(orgs & usccs) >= 5  # organization code in one record, credit code in another


def test_content_is_varied(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    names = [rec["name"] for _, rec in records(root, manifest, "RTL_CUST")]
    assert any("\u3400" in n or "\U00020000" in n for n in names)
    assert any(len(n.encode("gb18030")) == 60 for n in names)
    assert {rec["cust_type"] for _, rec in records(root, manifest, "RTL_CUST")} == {"P", "C"}
    rtl = [rec for _, rec in records(root, manifest, "RTL_ACCT")]
    assert {r["product"] for r in rtl} == {"D", "T"} and {r["status"] for r in rtl} == {
        "N",
        "F",
        "C",
    }
    assert all((r["product"] == "T") == (int(r["term_months"]) > 0) for r in rtl)
    used = {r["currency"] for r in rtl} | {
        r["currency"] for _, r in records(root, manifest, "CRD_ACCT")
    }
    assert set(manifest["fx_rates"]) <= used
    for _, h in records(root, manifest, "FND_HOLD"):
        exact = Decimal(h["shares"]) * Decimal(h["nav"])
        assert Decimal(h["market_value"]) == exact.quantize(
            Decimal("0.01"), rounding="ROUND_HALF_UP"
        )
    loans = [r for _, r in records(root, manifest, "LON_ACCT")]
    assert any(int(r["overdue_periods"]) > 0 and Decimal(r["overdue_balance"]) > 0 for r in loans)


def test_cities_share_customers_with_their_province(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    ids: dict[str, set[str]] = defaultdict(set)
    for branch, rec in records(root, manifest, "RTL_CUST"):
        number, ok = normalize(rec["id_type"], rec["id_no"])
        if ok:
            ids[branch].add(number)
    assert len(ids["NB"] & ids["ZJ"]) >= 10 and len(ids["SZ"] & ids["GD"]) >= 10
    assert not ids["NB"] & ids["GD"]


def _score_share(root: Path, manifest: dict[str, Any]) -> dict[str, float]:
    """Share of merged customers at or above the threshold, by a simplified merge."""
    rates = {c: Decimal(r) / 100 for c, r in manifest["fx_rates"].items()} | {"CNY": Decimal(1)}
    owner: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    usccs: dict[tuple[str, str], str] = {}
    pending = []
    for system in ("RTL", "CRD", "LON", "FND"):
        for branch, rec in records(root, manifest, f"{system}_CUST"):
            prov = provinces().province_of(branch) or branch
            id_type = CRD_TYPES[rec["id_type"]] if system == "CRD" else rec["id_type"]
            number, ok = normalize(id_type, rec["id_no"])
            if ok and id_type == "23":
                usccs[(prov, number[8:17])] = number
            pending.append(
                (system, branch, prov, rec["cust_no"], rec["cust_type"], id_type, number, ok)
            )
    for system, branch, prov, cust_no, cust_type, id_type, number, ok in pending:  # noqa: B007
        if ok and id_type == "21" and (prov, number) in usccs:
            id_type, number = "23", usccs[(prov, number)]
        owner[(system, branch, cust_no)] = (
            prov,
            cust_type,
            f"{id_type}:{number}" if not ok else number,
        )
    score: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for key in owner.values():
        score[key] += 0
    for system, layout in (
        ("RTL", "RTL_ACCT"),
        ("CRD", "CRD_ACCT"),
        ("LON", "LON_ACCT"),
        ("FND", "FND_HOLD"),
    ):
        for branch, a in records(root, manifest, layout):
            found = owner.get((system, branch, a["cust_no"]))
            if found is None or a.get("status") == "C":
                continue
            key = found
            prov, cust_type, _ = key
            rate = rates[a["currency"]]
            fx = a["currency"] != "CNY"
            personal = cust_type == "P"
            if system == "RTL":
                bal = Decimal(a["balance"]) * rate
                term = Decimal(a["term_months"]) / 12
                if a["product"] == "D":
                    score[key] += bal * (Decimal("1.5") if fx and personal else 1)
                else:
                    score[key] += bal + (
                        (bal * term / (Decimal("1.2") if fx else Decimal("1.5"))) if personal else 0
                    )
            elif system == "CRD":
                dep = Decimal(a["deposit_balance"]) * rate
                score[key] += dep * ((Decimal("1.3") if fx else Decimal("1.1")) if personal else 1)
                score[key] -= Decimal(a["overdraft_amount"]) * rate
            elif system == "LON" and personal:
                principal = Decimal(a["principal_balance"]) * rate
                score[key] += Decimal("1.2") * principal / int(a["term_months"])
                score[key] += Decimal(a["overdue_balance"]) * rate * int(a["overdue_periods"])
            elif system == "FND":
                coef = (Decimal("1.5") if prov == "GD" else 2) if personal else 1
                score[key] += coef * Decimal(a["market_value"]) * rate
    threshold = {"ZJ": 500_000, "GD": 800_000}
    shares = {}
    for prov in ("ZJ", "GD"):
        keys = [k for k in score if k[0] == prov]
        good = [k for k in keys if score[k] >= threshold[prov] * (10 if k[1] == "C" else 1)]
        shares[prov] = len(good) / len(keys)
    return shares


def test_a_good_fraction_qualifies(sample: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = sample
    for prov, share in _score_share(root, manifest).items():
        assert 0.10 <= share <= 0.40, (prov, share)


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
