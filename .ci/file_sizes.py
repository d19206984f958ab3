"""Fails when a Python file of the project passes the size a newcomer can read in one go.

Issue 15: small modules with one job each, no file over about 400 lines (migrations, which
are generated history, excepted). Checked in `make test` so the structure cannot rot.
"""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 400
ROOTS = ("common", "crm_pipeline", "extract", "transform", "load", "dags", "bench", "tests", "docs")
EXEMPT = ("load/migrations/versions/",)


def oversized(root: Path) -> list[tuple[str, int]]:
    found = []
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(EXEMPT):
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > LIMIT:
                found.append((name, lines))
    return found


def main() -> int:
    found = oversized(Path(__file__).resolve().parent.parent)
    for name, lines in found:
        print(f"{name}: {lines} lines (over {LIMIT}: split it by job)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
