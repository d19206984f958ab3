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

Chromium is started by docs/tools/headless_chromium.py (headless, offline, a fresh
profile), without a DevTools port: a static page needs no driving, so
`--dump-dom` / `--screenshot` on the command line do. tests/transform/scoring/
test_trial_report_browser.py opens a report the same way (`browser_run`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from headless_chromium import one_shot_command, run_once  # noqa: E402

DEFAULT_OUT = PROJECT / "docs" / "images" / "formula-trial-report.png"
DAY = "20261124"
SIZE = (1200, 2150)


def browser_run(
    chromium: str, page: Path, profile: Path, action: str, size: tuple[int, int] = SIZE
) -> str:
    """Run headless Chromium on `page` once; its standard output (the DOM for --dump-dom)."""
    return run_once(one_shot_command(chromium, profile, size, action, page.resolve().as_uri()))


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
