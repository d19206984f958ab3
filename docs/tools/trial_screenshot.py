"""A formula trial's HTML report, photographed in headless Chromium.

    .venv/bin/python docs/tools/trial_screenshot.py [--out docs/images/formula-trial-report.png]

Produces the picture in docs/formulas.md ("The report"):

1. `crm-pipeline sample` for 20261124 (ZJ with its city NB, 300 customers per branch,
   seed 7) and `crm-pipeline run --mode initial` into a SQLite warehouse, all in a
   temporary directory;
2. `crm-pipeline formula trial` of a copy of the reference formulas named
   `candidate.yaml` whose ZJ person threshold is 400,000 instead of 500,000;
3. headless Chromium (Debian package `chromium`) opens the report's `file://` URL and
   writes the PNG (`--screenshot`).

Chromium is started with docs/tools/grid_screenshot.py's `chromium_command` (headless,
offline, a fresh profile), minus the DevTools port: a static page needs no driving, so
`--dump-dom` / `--screenshot` on the command line do. tests/transform/scoring/
test_trial_report_browser.py opens a report the same way (`browser_run`).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT / "docs" / "images" / "formula-trial-report.png"
DAY = "20261124"
SIZE = (1200, 2150)


def _grid_screenshot() -> ModuleType:
    """docs/tools/grid_screenshot.py, for its Chromium command line."""
    spec = importlib.util.spec_from_file_location(
        "grid_screenshot", Path(__file__).with_name("grid_screenshot.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("grid_screenshot", module)
    spec.loader.exec_module(module)
    return module


def browser_command(
    chromium: str, profile: Path, size: tuple[int, int], action: str, url: str
) -> list[str]:
    """`chromium_command` with `action` (`--dump-dom`, `--screenshot=FILE`) on `url`
    instead of the DevTools port and the blank page."""
    base = _grid_screenshot().chromium_command(chromium, profile, size)
    kept = [a for a in base if not a.startswith("--remote-debugging") and a != "about:blank"]
    return [*kept, action, url]


def browser_run(
    chromium: str, page: Path, profile: Path, action: str, size: tuple[int, int] = SIZE
) -> str:
    """Run headless Chromium on `page` once; its standard output (the DOM for --dump-dom)."""
    done = subprocess.run(
        browser_command(chromium, profile, size, action, page.resolve().as_uri()),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def sample_report(root: Path) -> Path:
    """A sample initial load and a trial of a lowered ZJ threshold; the report's path."""
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    from crm_pipeline.cli import main

    landing, staging = root / "landing", root / "staging"
    warehouse = f"sqlite:///{root / 'warehouse.db'}"
    steps = [
        ["sample", "--out", str(landing), "--date", DAY, "--branches", "ZJ,NB",
         "--customers", "300", "--seed", "7"],
        ["run", "--date", DAY, "--mode", "initial", "--landing", str(landing),
         "--warehouse", warehouse, "--staging", str(staging)],
    ]  # fmt: skip
    for step in steps:
        if main(step) != 0:
            raise RuntimeError(f"crm-pipeline {step[0]} failed")
    candidate = root / "candidate.yaml"
    text = (PROJECT / "scoring_formulas" / "reference.yaml").read_text(encoding="utf-8")
    candidate.write_text(
        text.replace("  ZJ: {}\n", "  ZJ:\n    thresholds: {P: 400000, C: 5000000}\n"),
        encoding="utf-8",
    )
    out = root / "report"
    trial = ["formula", "trial", str(candidate), "--date", DAY, "--province", "ZJ",
             "--staging", str(staging), "--warehouse", warehouse, "--out", str(out)]  # fmt: skip
    if main(trial) != 0:
        raise RuntimeError("crm-pipeline formula trial failed")
    return out / "report.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trial-shot-") as tmp:
        root = Path(tmp)
        report = sample_report(root)
        shot = root / "shot.png"
        browser_run(args.chromium, report, root / "profile", f"--screenshot={shot}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
