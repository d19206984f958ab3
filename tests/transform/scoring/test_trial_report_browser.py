"""The trial's HTML report, opened in headless Chromium (/usr/bin/chromium).

The page is what a browser makes of it, not the text we wrote: Chromium parses it
(`--dump-dom` prints the resulting document) and draws it (`--screenshot`). Chromium is
started the way docs/tools/trial_screenshot.py does, by docs/tools/headless_chromium.py
(headless, offline, a fresh profile). Without Chromium (`make test`
installs it: .ci/install-chromium.sh) these tests fail rather than skip.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

from common.paths import PROJECT_ROOT
from tests.doc_tools import load_tool
from tests.transform.scoring.helpers import account, accounts_table, customers_table
from transform.scoring import load_formulas
from transform.scoring.report import write_report
from transform.scoring.trial import run_trial

CHROMIUM = "/usr/bin/chromium"
DAY = date(2026, 11, 24)
ENTERS, STAYS, LEAVES, NEVER = "P|01|ENTERS", "P|01|STAYS", "P|01|LEAVES", "P|01|NEVER"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool("trial_screenshot")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ZJ persons: in force fund_coef 2 and 500,000; the candidate fund_coef 1 and 400,000."""
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(PROJECT_ROOT / "scoring_formulas", root / "now")
    (root / "then").mkdir()
    text = (root / "now" / "reference.yaml").read_text()
    (root / "then" / "reference.yaml").write_text(
        text.replace(
            "  ZJ: {}\n",
            "  ZJ:\n    parameters: {fund_coef: 1}\n    thresholds: {P: 400000, C: 5000000}\n",
        )
    )
    rows = [
        account(ENTERS, "RTL", "DEMAND", "CNY", "450000.00"),
        account(STAYS, "RTL", "DEMAND", "CNY", "300000.00"),
        account(STAYS, "FND", "FUND", "CNY", "120000.00"),
        account(LEAVES, "RTL", "DEMAND", "CNY", "200000.00"),
        account(LEAVES, "FND", "FUND", "CNY", "160000.00"),
        account(NEVER, "RTL", "DEMAND", "CNY", "100.00"),
    ]
    trial = run_trial(
        "ZJ",
        accounts_table(rows),
        customers_table([ENTERS, STAYS, LEAVES, NEVER]),
        load_formulas(root / "now").for_province("ZJ", DAY),
        load_formulas(root / "then").for_province("ZJ", DAY),
    )
    return write_report(root / "out", "work/candidate.yaml", "ab" * 32, DAY, [trial], 100)


@dataclass
class Dom(HTMLParser):
    """What the test reads back from Chromium's document: tables' cells, bars, lines."""

    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    bars: list[int] = field(default_factory=list)
    lines: dict[str, str] = field(default_factory=dict)
    title: str = ""
    _table: str | None = None
    _cell: list[str] | None = None
    _in_title: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif tag == "rect" and a.get("class") == "bar":
            self.bars.append(int(a["data-count"] or 0))
        elif tag == "line" and a.get("class", "").startswith("threshold"):
            self.lines[a["class"] or ""] = a["x1"] or ""
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.title += data


def test_chromium_reads_the_report(tool: ModuleType, report: Path, tmp_path: Path) -> None:
    dom_text = tool.browser_run(CHROMIUM, report, tmp_path / "profile", "--dump-dom")
    dom = Dom()
    dom.feed(dom_text)
    assert dom.title == "Formula trial: candidate.yaml"
    body = [r for r in dom.tables["summary"] if r]
    # now: STAYS 540,000 and LEAVES 520,000 qualify; candidate: ENTERS 450,000, STAYS 420,000
    assert [r[:7] for r in body] == [["ZJ", "P", "4", "2", "2", "1", "1"]]
    assert [r for r in dom.tables["enter-ZJ"] if r] == [
        [ENTERS, "P", "450,000.00", "450,000.00"]
    ]  # fmt: skip
    assert [r for r in dom.tables["leave-ZJ"] if r] == [
        [LEAVES, "P", "520,000.00", "360,000.00"]
    ]  # fmt: skip
    # twelve bars: below 0, ten bins of 80,000 up to 800,000, at or above 800,000
    scores = [Decimal("100"), Decimal("360000"), Decimal("420000"), Decimal("450000")]
    expected = [0] * 12
    for s in scores:
        expected[1 + int(s // 80000)] += 1
    assert dom.bars == expected
    # the candidate's threshold (400,000, the 5th edge) falls between the 6th and 7th bar;
    # the one in force (500,000) a quarter into the 8th (480,000 - 560,000); a bar's left
    # edge is at x = 50 + index x 42 (bars 36 wide, gaps 6): 50 + 6 x 42 - 3 and 50 + 7 x 42 + 9
    assert dom.lines == {"threshold": "299.0", "threshold-now": "353.0"}
    bands = {r[0]: r[1:] for r in dom.tables["bands-ZJ-P"] if r}
    assert bands["320,000.00 - 400,000.00"] == ["1", "0", "1"]
    assert bands["400,000.00 - 480,000.00"] == ["2", "1", "0"]


def test_chromium_draws_the_report(tool: ModuleType, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    tool.browser_run(CHROMIUM, report, tmp_path / "profile", f"--screenshot={shot}", (900, 700))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (900, 700)
    assert len(data) > 20_000  # a drawn page, not a blank one
