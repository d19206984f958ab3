"""The Data Docs of a held night, opened in headless Chromium (docs/tools/
data_docs_screenshot.py, Chromium as docs/tools/headless_chromium.py starts it)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.doc_tools import load_tool
from tests.quality.conftest import Night, edit_rate, read_rates

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (.ci/install-chromium.sh)"
)


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool("data_docs_screenshot")


def test_the_held_night_s_data_docs_open_in_chromium(
    tool: ModuleType, night: Night, tmp_path: Path
) -> None:
    usd = read_rates(night.landing)["USD"][0]
    edit_rate(night.landing, "USD", str(usd * 100))
    assert night.run().status == "held"
    [result] = night.results()
    assert result.docs is not None
    index = Path(result.docs)
    page = tool.validation_page(index)
    profile = tmp_path / "profile"

    home = tool.run_once(tool.one_shot_command(CHROMIUM, profile, (1200, 900), "--dump-dom",
                                           index.as_uri()))  # fmt: skip
    assert "quality_gate" in home  # the suite's validation is listed on the index

    dom = tool.run_once(tool.one_shot_command(CHROMIUM, profile, (1200, 900), "--dump-dom",
                                          page.as_uri()))  # fmt: skip
    assert "Failed" in dom
    assert "fx_band (critical)" in dom
    assert str((usd * 100).normalize()) in dom  # the rate the night was held on

    shot = tmp_path / "docs.png"
    tool.run_once(tool.one_shot_command(CHROMIUM, profile, (1200, 900), f"--screenshot={shot}",
                                    page.as_uri()))  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
