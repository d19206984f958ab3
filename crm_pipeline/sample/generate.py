"""Orchestration: the entities of each branch, their records per system, damage, files.

One seeded generator per branch (derived from the run's seed and the branch code), so a
branch's files do not change when other branches are added to the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.config import Layout, LayoutConfig, layouts, provinces
from crm_pipeline.sample import ids, records
from crm_pipeline.sample.columns import Num, Table, concat_tables, table_len, take_table
from crm_pipeline.sample.inject import Breakage, Picker, break_line, breakages, few, replace_key
from crm_pipeline.sample.records import ACCOUNT_BUILDERS, ACCOUNT_ENTITY, Entities
from crm_pipeline.sample.writer import Injected, Written, format_fen, row_fields, write_data_file

DEFAULT_BRANCHES = ("ZJ", "NB", "GD", "SZ")
# Per province: wealth scale (so that 10-40% of customers qualify against its threshold)
# and the RTL initial export filter in CNY (reference-formulas.md; ZJ's for the others).
WEALTH_SCALE = {"ZJ": 1.0, "JS": 1.0, "GD": 1.6, "SD": 0.6, "BJ": 2.0}
EXPORT_FILTER = {"ZJ": 50_000, "JS": 50_000, "GD": 100_000, "SD": 30_000, "BJ": 50_000}
SHARED_WITH_PROVINCE = 0.10  # share of a city branch's entities also banking in the province
# Wealth kept per system, relative to the entity's wealth (RTL deposits carry the most).
SYSTEM_SHARE = {"RTL": 1.0, "CRD": 1.0, "LON": 1.0, "FND": 1.0}


def branch_rng(seed: int, branch: str) -> np.random.Generator:
    return np.random.default_rng([seed, *branch.encode("ascii")])


def province_of(branch: str) -> str:
    return provinces().province_of(branch) or branch


def export_filter(branch: str) -> int:
    return EXPORT_FILTER.get(province_of(branch), EXPORT_FILTER["ZJ"])


@dataclass
class FileReport:
    """What one data file holds, for the manifest (see the package docstring)."""

    layout: str
    branch: str | None
    written: Written | None = None
    set_aside: list[dict[str, Any]] = field(default_factory=list)
    flagged_ids: list[dict[str, Any]] = field(default_factory=list)
    filtered: list[dict[str, Any]] = field(default_factory=list)
    left_out_by_filter: int = 0
    on_filter: int = 0

    def as_json(self, root: Path) -> dict[str, Any]:
        w = self.written
        assert w is not None
        reasons = Counter(item["reason"] for item in self.set_aside)
        return {
            "file": w.path.relative_to(root).as_posix(),
            "layout": self.layout,
            "branch": self.branch,
            "province": province_of(self.branch) if self.branch else None,
            "records": w.records,
            "bytes": w.size,
            "control_sum": format_fen(w.control_sum),
            "kept": w.records - len(self.set_aside) - len(self.filtered),
            "set_aside": dict(sorted(reasons.items())),
            "filtered": len(self.filtered),
            "flagged": len(self.flagged_ids),
            "left_out_by_filter": self.left_out_by_filter,
            "on_filter": self.on_filter,
            "set_aside_lines": sorted(self.set_aside, key=lambda d: d["line"]),
            "flagged_ids": sorted(self.flagged_ids, key=lambda d: d["line"]),
            "filtered_accounts": sorted(self.filtered, key=lambda d: d["line"]),
        }


@dataclass
class Pending:
    """A file about to be written: good rows, injected lines, and bulk rows worth naming."""

    table: Table
    injected: list[Injected] = field(default_factory=list)
    marks: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # row, list, info


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _key_of(layout: Layout, table: Table, row: int) -> str:
    col = table[layout.key[0]]
    return _text(np.asarray(col)[row])


def _finish(
    path: Path,
    layout: Layout,
    pending: Pending,
    drop: set[int],
    rng: np.random.Generator,
    report: FileReport,
) -> None:
    """Drop the replaced rows, place injected lines at random, write, and report lines."""
    n = table_len(pending.table)
    keep = np.ones(n, dtype=bool)
    keep[list(drop)] = False
    new_pos = np.cumsum(keep) - 1
    table = take_table(pending.table, keep)
    kept = int(keep.sum())
    placed = [
        Injected(int(rng.integers(0, kept + 1)), inj.line, inj.reason, inj.key, inj.field)
        for inj in pending.injected
    ]
    written = write_data_file(path, table, layout, placed)
    report.written = written
    for inj, line in zip(placed, written.injected_lines, strict=True):
        if inj.reason is not None:
            item = {"line": line, "reason": inj.reason, "key": inj.key}
            if inj.field:
                item["field"] = inj.field
            report.set_aside.append(item)
    for row, kind, info in pending.marks:
        assert keep[row], "a named bulk row was dropped"
        line = int(written.good_lines[new_pos[row]])
        {"set_aside": report.set_aside, "flagged": report.flagged_ids, "filtered": report.filtered}[
            kind
        ].append({"line": line, **info})


def _damage(
    rng: np.random.Generator,
    layout: Layout,
    config: LayoutConfig,
    pending: Pending,
    picker: Picker,
    count: int,
    drop: set[int],
) -> set[int]:
    """Break ``count`` records per kind of damage; returns rows set aside (dropped or duplicated)."""
    table = pending.table
    gone: set[int] = set()
    kinds = breakages(layout)
    for variant in range(count):
        for damage in kinds:
            row = picker.take()
            if row is None:
                return gone
            fields = row_fields(table, row, layout)
            line = break_line(fields, layout, config, damage, variant)
            pending.injected.append(
                Injected(0, line, damage.reason, _key_of(layout, table, row), damage.field)
            )
            drop.add(row)
            gone.add(row)
        row = picker.take()
        if row is None:
            return gone
        fields = row_fields(table, row, layout)
        twin = list(fields)
        change = layout.control or (
            "mobile" if "mobile" in layout.field_names else layout.field_names[-1]
        )
        idx = layout.field_names.index(change)
        twin[idx] = b"1.00" if layout.control else twin[idx][::-1]
        key = _key_of(layout, table, row)
        pending.injected.append(Injected(0, _assemble(twin, layout), "duplicate_key", key))
        pending.marks.append((row, "set_aside", {"reason": "duplicate_key", "key": key}))
        gone.add(row)
    return gone


def _assemble(fields: list[bytes], layout: Layout) -> bytes:
    from crm_pipeline.sample.writer import assemble

    return assemble(fields, layout)


def _flag_ids(pending: Pending, system: str, picker: Picker, count: int) -> None:
    """Spoil the check character of a few clean identification numbers (kept, flagged)."""
    table = pending.table
    id_type = np.asarray(table["id_type"])
    id_no = np.asarray(table["id_no"])
    canon = (
        records.recode(id_type, {v: k for k, v in records.CRD_LETTER.items()})
        if system == "CRD"
        else id_type
    )
    lengths = np.char.str_len(id_no.astype(str)) if len(id_no) else np.zeros(0, int)
    ascii_ok = (
        np.char.isalnum(np.char.replace(id_no.astype(str), "-", "")) if len(id_no) else lengths > 0
    )
    clean = ascii_ok & (
        ((canon == "01") & (lengths == 18)) | ((canon == "23") & (lengths == 18)) | (canon == "21")
    )
    if len(id_no):
        clean &= ~(id_no.astype(str).view(np.uint32).reshape(len(id_no), -1) >= 128).any(axis=1)
    for _ in range(count):
        row = picker.take(clean)
        if row is None:
            return
        old = str(id_no[row])
        new = ids.spoil_check(old, str(canon[row]))
        id_no[row] = new
        pending.marks.append(
            (
                row,
                "flagged",
                {
                    "cust_no": _text(np.asarray(table["cust_no"])[row]),
                    "id_type": str(id_type[row]),
                    "id_no": new,
                },
            )
        )


def _customers_file(
    rng: np.random.Generator,
    out: Path,
    config: LayoutConfig,
    system: str,
    branch: str,
    cust: Table,
    day: str,
) -> tuple[FileReport, set[int]]:
    layout = config.layout_for(system, "CUST")
    name = f"{system}_CUST"
    report = FileReport(name, branch)
    pending = Pending(cust)
    n = table_len(cust)
    picker = Picker(rng, np.ones(n, dtype=bool))
    drop: set[int] = set()
    count = few(n)
    gone = _damage(rng, layout, config, pending, picker, count, drop)
    _flag_ids(pending, system, picker, count)
    _finish(
        out / day / branch / f"{system}_CUST_{branch}_{day}.dat", layout, pending, drop, rng, report
    )
    return report, gone


def _rtl_filter(
    rng: np.random.Generator,
    table: Table,
    branch: str,
    rates: dict[str, int],
    good_owner: npt.NDArray[np.bool_],
    count: int,
) -> tuple[Table, npt.NDArray[np.bool_], list[int], int, int]:
    """Apply the export filter exactly (fen x rate vs filter x 10**8); keep a few anyway.

    Returns the filtered table, which owners rows belong to (mask over the new table),
    rows sent anyway, the number left out, and the number exactly on the filter.
    """
    balance = table["balance"]
    assert isinstance(balance, Num)
    fen = balance.values
    currency = np.asarray(table["currency"]).astype(str)
    rate = records.rate_of(currency, rates)
    limit = export_filter(branch) * 10**8
    # A few CNY accounts exactly on the filter: kept (the rule is "strictly under").
    cny_rows = np.nonzero((currency == "CNY") & good_owner)[0]
    on = cny_rows[: min(count, len(cny_rows))]
    fen = fen.copy()
    fen[on] = export_filter(branch) * 100
    table = {**table, "balance": Num(fen, 2)}
    under = fen * rate < limit
    anyway_pool = np.nonzero(under & good_owner)[0]
    anyway = set(int(r) for r in rng.permutation(anyway_pool)[:count])
    keep = ~under
    keep[list(anyway)] = True
    new_index = np.cumsum(keep) - 1
    return (
        take_table(table, keep),
        keep,
        sorted(int(new_index[r]) for r in anyway),
        int(under.sum()) - len(anyway),
        len(on),
    )


def _accounts_file(
    rng: np.random.Generator,
    out: Path,
    config: LayoutConfig,
    system: str,
    branch: str,
    accounts: records.Accounts,
    cust: Table,
    gone_customers: set[int],
    rates: dict[str, int],
    day: str,
) -> FileReport:
    entity = ACCOUNT_ENTITY[system]
    layout = config.layout_for(system, entity)
    report = FileReport(f"{system}_{entity}", branch)
    table = accounts.table
    owner = accounts.owner
    orphan = np.isin(owner, list(gone_customers))
    count = few(table_len(table))
    anyway: list[int] = []
    if layout.export_filter:
        table, keep, anyway, report.left_out_by_filter, report.on_filter = _rtl_filter(
            rng, table, branch, rates, ~orphan, count
        )
        owner, orphan = owner[keep], orphan[keep]
    pending = Pending(table)
    n = table_len(table)
    key = layout.key[0]
    keys = np.asarray(table[key])
    for orphan_row in np.nonzero(orphan)[0]:
        pending.marks.append(
            (int(orphan_row), "set_aside", {"reason": "orphan", "key": _text(keys[orphan_row])})
        )
    for sent in anyway:
        pending.marks.append((sent, "filtered", {"acct_no": _text(keys[sent])}))
    eligible = ~orphan
    eligible[anyway] = False
    picker = Picker(rng, eligible)
    drop: set[int] = set()
    _damage(rng, layout, config, pending, picker, count, drop)
    cust_no = np.asarray(cust["cust_no"])
    width = len(_text(cust_no[0])) if len(cust_no) else 12
    for i in range(count):  # accounts of customers nobody sent
        row = picker.take()
        if row is None:
            break
        ghost = (f"{branch}X" + f"{99_990 + i}".rjust(width, "9"))[:width].encode()
        fields = replace_key(row_fields(table, row, layout), layout, "cust_no", ghost)
        pending.injected.append(Injected(0, _assemble(fields, layout), "orphan", _text(keys[row])))
        drop.add(row)
    _finish(
        out / day / branch / f"{system}_{entity}_{branch}_{day}.dat",
        layout,
        pending,
        drop,
        rng,
        report,
    )
    _ = n
    return report


def _entities(
    seed: int, branches: Sequence[str], customers: int, business_date: date
) -> dict[str, Entities]:
    """Entities of every branch; a city shares some with its province when both are run."""
    out: dict[str, Entities] = {}
    ordered = sorted(branches, key=lambda b: province_of(b) != b)  # provinces first
    for branch in ordered:
        rng = branch_rng(seed, branch)
        scale = WEALTH_SCALE.get(province_of(branch), 1.0)
        ent = records.build_entities(rng, branch, customers, business_date, scale)
        province = province_of(branch)
        if province != branch and province in out and customers:
            base = out[province]
            k = int(customers * SHARED_WITH_PROVINCE)
            rows = rng.choice(len(base), min(k, len(base)), replace=False)
            table = concat_tables(
                [take_table(base.table, rows), take_table(ent.table, slice(k, None))]
            )
            ent = Entities(branch, table, np.concatenate([base.wealth[rows], ent.wealth[k:]]))
        out[branch] = ent
    return out


def _empty_files(out: Path, config: LayoutConfig, branch: str, day: str) -> list[FileReport]:
    reports = []
    for system in records.SYSTEMS:
        for entity in ("CUST", ACCOUNT_ENTITY[system]):
            report = FileReport(f"{system}_{entity}", branch)
            path = out / day / branch / f"{system}_{entity}_{branch}_{day}.dat"
            report.written = write_data_file(path, {}, config.layout_for(system, entity))
            reports.append(report)
    return reports


def write_sample(
    out: Path, business_date: date, branches: Sequence[str], customers: int, seed: int
) -> Path:
    """Write a full initial-load dump for ``branches`` under ``out`` (the SFTP /outbound).

    Returns the manifest path ``out/{D}/sample_manifest.json``.
    """
    config = layouts()
    day = business_date.strftime("%Y%m%d")
    fx_rng = np.random.default_rng([seed, 0])
    rates = records.fx_rates(fx_rng)
    reports: list[FileReport] = []
    fx_layout = config.layouts["FXR_RATE"]
    fx_report = FileReport("FXR_RATE", None)
    fx_report.written = write_data_file(
        out / day / f"FXR_RATE_{day}.dat", records.rate_table(rates, business_date), fx_layout
    )
    reports.append(fx_report)
    if customers == 0:  # every branch still sends each file, empty, with its flag
        for branch in branches:
            reports.extend(_empty_files(out, config, branch, day))
        branches_to_fill: Sequence[str] = ()
    else:
        branches_to_fill = branches
    world = _entities(seed, branches_to_fill, customers, business_date)
    for branch in branches_to_fill:
        ent = world[branch]
        rng = branch_rng(seed + 1, branch)
        present = records.presence(rng, ent)
        for system in records.SYSTEMS:
            rows = np.nonzero(present[system])[0]
            cust = records.customer_table(rng, ent, rows, system, branch)
            wealth = ent.wealth[rows] * SYSTEM_SHARE[system]
            accounts = ACCOUNT_BUILDERS[system](rng, cust, wealth, branch, business_date, rates)
            cust_report, gone = _customers_file(rng, out, config, system, branch, cust, day)
            reports.append(cust_report)
            reports.append(
                _accounts_file(rng, out, config, system, branch, accounts, cust, gone, rates, day)
            )
    manifest = {
        "business_date": day,
        "seed": seed,
        "branches": list(branches),
        "customers_per_branch": customers,
        "export_filter": {b: export_filter(b) for b in branches},
        "fx_rates": {c: format_rate(r) for c, r in rates.items()},
        "files": [r.as_json(out) for r in reports],
    }
    path = out / day / "sample_manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def format_rate(rate: int) -> str:
    whole, frac = divmod(rate, 10_000)
    return f"{whole}.{f'{frac:04d}'.rstrip('0').ljust(2, '0')}"


_ = Breakage
