"""The formulas in force: every formula file of a directory, read and checked together.

`load_formulas(directory)` reads and checks every file once (every problem listed, with
file, line and column) and gives the `FormulaSet` the runner asks for a province's
formulas on a business date; `check_formula_files` is what `formula check` prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from common import config
from common.errors import ConfigError
from transform.scoring.formula_checks import check_files
from transform.scoring.formula_model import FormulaFile
from transform.scoring.formula_reader import read_file
from transform.scoring.layering import resolve
from transform.scoring.scorer import ProvinceFormulas
from transform.scoring.yaml_positions import Pos, Problem


def _configured_provinces() -> list[str]:
    """The provinces of config/provinces.yaml, when it can be read (checks cover them)."""
    try:
        return list(config.provinces().provinces)
    except Exception:  # noqa: BLE001 - the formula check must not fail on another file
        return []


@dataclass
class FormulaSet:
    """Every formula file of a directory, validated together."""

    files: list[FormulaFile]

    def for_province(self, province: str, business_date: date) -> ProvinceFormulas:
        """The province's formulas in force on `business_date` (ConfigError if incomplete)."""
        resolved, problems = resolve(self.files, province, business_date)
        if problems or resolved is None:
            raise ConfigError(_unique(problems))
        assert resolved.export_filter is not None
        return ProvinceFormulas(
            province=province,
            business_date=business_date,
            export_filter=resolved.export_filter,
            thresholds=dict(resolved.thresholds),
            formula_ids={t: resolved.formula_id(t) for t in resolved.formulas},
            resolved=resolved,
        )

    def provinces(self) -> list[str]:
        """Provinces named in the files, and the configured ones."""
        named = {p for f in self.files for p in f.provinces}
        return sorted(named | set(_configured_provinces()))


def _unique(problems: Iterable[Problem]) -> list[str]:
    seen: dict[str, None] = {}
    for problem in problems:
        seen.setdefault(str(problem), None)
    return list(seen)


def formula_paths(paths: Iterable[Path]) -> list[Path]:
    """The formula files under `paths` (a directory means its *.yaml / *.yml files)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            found.append(path)
    return found


def check_formula_files(
    files: list[Path], texts: dict[Path, str] | None = None
) -> tuple[FormulaSet, list[Problem]]:
    """Read and check formula files together; every problem, each with its position."""
    problems: list[Problem] = []
    read: list[FormulaFile] = []
    for path in files:
        formula_file, found = read_file(path, (texts or {}).get(path))
        problems += found
        if formula_file is not None:
            read.append(formula_file)
    if not files:
        problems.append(Problem(Pos("(no file)", 1, 1), "no formula files given"))
    problems += check_files(read)
    formula_set = FormulaSet(read)
    duplicated = any(p.message.startswith("duplicate definition of") for p in problems)
    # Layered together unless definitions clash; then each file on its own, so that its
    # own mistakes are still all reported (but not what only the layering could supply).
    groups = [[f] for f in read] if duplicated else [read] if read else []
    for group in groups:
        dates = sorted({f.effective_date for f in group})
        for province in formula_set.provinces():
            for when in dates:
                resolved, found = resolve(group, province, when)
                if duplicated:
                    found = [p for p in found if not _PROVINCE_PROBLEM.match(p.message)]
                if resolved is not None or when == dates[-1]:
                    problems += found
    return formula_set, [Problem(p.pos, p.message) for p in _dedupe(problems)]


_PROVINCE_PROBLEM = re.compile(r"^province (\S+) (has no .*)$")


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """Each problem once; "province X has no ..." at one place merged into one line."""
    seen: dict[str, Problem] = {}
    provinces: dict[tuple[Pos, str], list[str]] = {}
    for problem in problems:
        match = _PROVINCE_PROBLEM.match(problem.message)
        if match:
            names = provinces.setdefault((problem.pos, match.group(2)), [])
            if match.group(1) not in names:
                names.append(match.group(1))
            continue
        seen.setdefault(str(problem), problem)
    for (pos, rest), names in provinces.items():
        label = "province" if len(names) == 1 else "provinces"
        verb_rest = rest if len(names) == 1 else "have" + rest[len("has") :]
        merged = Problem(pos, f"{label} {', '.join(sorted(names))} {verb_rest}")
        seen.setdefault(str(merged), merged)
    return sorted(seen.values(), key=lambda p: (p.pos.file, p.pos.line, p.pos.col, p.message))


def load_formulas(directory: Path) -> FormulaSet:
    """Every formula file of `directory`, validated; ConfigError lists every problem."""
    paths = formula_paths([Path(directory)])
    if not Path(directory).is_dir():
        raise ConfigError([f"{directory}: formula directory not found"])
    formula_set, problems = check_formula_files(paths)
    if problems:
        raise ConfigError([str(p) for p in problems])
    return formula_set
