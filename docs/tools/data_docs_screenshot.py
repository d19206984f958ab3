"""The Data Docs of a night the quality gate held, photographed in headless Chromium.

    .venv/bin/python docs/tools/data_docs_screenshot.py [--out docs/images/quality-data-docs.png]

Produces the picture in docs/operations.md ("When the quality gate holds a night"):

1. Generates a sample landing zone (business date 20261124, ZJ with its city NB, 300
   customers per branch) in a temporary directory and multiplies the USD rate of the FX
   file by 100 (re-flagged, as a sender's mistake would be).
2. Runs the initial load of ZJ into a SQLite warehouse there: the gate holds it.
3. Opens the validation page of the night's Data Docs in headless Chromium (docs/tools/headless_chromium.py) and writes the PNG.

The Data Docs load Bootstrap and jQuery from public CDNs; Chromium here runs offline
(background networking off, a fresh profile), so the page shows unstyled, as it would on
a server without Internet access.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(Path(__file__).parent))
from headless_chromium import one_shot_command, run_once  # noqa: E402

DEFAULT_OUT = PROJECT / "docs" / "images" / "quality-data-docs.png"
CHROMIUM = "/usr/bin/chromium"
SIZE = (1400, 2200)


def validation_page(docs_index: Path) -> Path:
    """The night's validation page in its Data Docs site (one evaluation per site)."""
    [page] = sorted((docs_index.parent / "validations").rglob("*.html"))
    return page


def held_night(root: Path) -> Path:
    """A night held on USD x100; the Data Docs index of its evaluation."""
    from crm_pipeline.run import run_date
    from crm_pipeline.sample import write_sample
    from tests.quality.conftest import DAY, D, edit_rate, read_rates

    landing = root / "landing"
    write_sample(landing, DAY, ["ZJ", "NB"], 300, 23)
    edit_rate(landing, "USD", str(read_rates(landing)["USD"][0] * 100))
    [summary] = run_date(D, "initial", landing, ["ZJ"], f"sqlite:///{root / 'w.db'}", root / "s")
    if summary.status != "held":
        raise SystemExit(f"expected a held night, got {summary.status}: {summary.error}")
    return root / "s" / D / "ZJ" / "initial" / "quality" / "docs" / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="data-docs-") as tmp:
        root = Path(tmp)
        page = validation_page(held_night(root))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        run_once(
            one_shot_command(args.chromium, root / "profile", SIZE,
                     f"--screenshot={args.out.resolve()}", page.as_uri())
        )  # fmt: skip
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
