"""The initial sample the tests of this folder read: written once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_pipeline.sample import write_sample
from tests.sample.dumps import BRANCHES, DAY


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("outbound")
    manifest = write_sample(out, DAY, BRANCHES, 600, seed=11)
    return out, json.loads(manifest.read_text(encoding="utf-8"))
