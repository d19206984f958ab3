"""Which formulas are in force for a province on a date: defaults and entries, layered.

For a province and a business date the latest defaults and the latest entry of that
province in force on that date are layered; a province without an entry uses the
`fallback_province`'s (ZJ for the bank). Every layered result is checked at once, so a
file that is valid alone but incomplete for some province and date is reported.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from transform.scoring.formula_checks import check_resolved
from transform.scoring.formula_model import Block, FormulaFile, Resolved
from transform.scoring.yaml_positions import Pos, Problem


def _latest(candidates: list[tuple[date, Any]], business_date: date) -> Any | None:
    in_force = [c for c in candidates if c[0] <= business_date]
    return max(in_force, key=lambda c: c[0])[1] if in_force else None


def resolve(
    files: list[FormulaFile], province: str, business_date: date
) -> tuple[Resolved | None, list[Problem]]:
    """Layer defaults and the province's entry in force on `business_date`; check the result."""
    defaults: list[tuple[date, tuple[FormulaFile, Block]]] = [
        (f.effective_date, (f, f.defaults)) for f in files if f.defaults is not None
    ]
    fallbacks = [(f.effective_date, f.fallback_province) for f in files if f.fallback_province]
    entry = province
    own = [(f.effective_date, (f, f.provinces[province])) for f in files if province in f.provinces]
    chosen = _latest(own, business_date)
    if chosen is None:
        fallback = _latest(fallbacks, business_date)
        if fallback is not None and fallback[0] != province:
            entry = fallback[0]
            chosen = _latest(
                [
                    (f.effective_date, (f, f.provinces[entry]))
                    for f in files
                    if entry in f.provinces
                ],
                business_date,
            )
    base = _latest(defaults, business_date)
    if base is None and chosen is None:
        where = (
            files[0].defaults.pos
            if files and files[0].defaults
            else Pos(str(files[0].path) if files else "?", 1, 1)
        )
        return None, [
            Problem(
                where,
                f"province {province} has no formula in force on {business_date} "
                "(give it an entry, or add defaults or a fallback_province)",
            )
        ]
    layers = [layer for layer in (base, chosen) if layer is not None]
    source_file, _ = layers[-1]
    resolved = Resolved(
        province=province,
        entry=entry,
        name=source_file.name,
        parameters={},
        account_filter=None,
        aggregates={},
        formulas={},
        thresholds={},
        export_filter=None,
        pos=layers[-1][1].pos,
    )
    for _, block in layers:
        resolved.parameters.update({k: v for k, (v, _) in block.parameters.items()})
        if block.has_account_filter:
            resolved.account_filter = block.account_filter
        resolved.aggregates.update(block.aggregates)
        resolved.formulas.update(block.formulas)
        resolved.thresholds.update({k: v for k, (v, _) in block.thresholds.items()})
        if block.export_filter is not None:
            resolved.export_filter = block.export_filter[0]
    return resolved, check_resolved(resolved)
