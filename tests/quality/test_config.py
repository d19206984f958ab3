"""config/quality.yaml is validated at load time: every problem at once, with file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from common import config as cfg
from common.errors import ConfigError
from common.paths import config_dir
from crm_pipeline.quality.config import load_quality, quality


def _write(tmp_path: Path, edit: dict[str, object]) -> Path:
    data = yaml.safe_load((config_dir() / "quality.yaml").read_text(encoding="utf-8"))
    for dotted, value in edit.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_shipped_file_is_valid_and_bands_every_currency() -> None:
    config = quality(config_dir())
    currencies = cfg.layouts().code_values("currency")
    assert set(config.fx_bands) == set(currencies)
    assert config.for_province("GD").foreign_share.warning.max == Decimal("0.7")  # type: ignore[union-attr]
    assert config.for_province("ZJ").foreign_share.warning.max == Decimal("0.6")  # type: ignore[union-attr]


def test_every_problem_is_named_with_its_file_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "checks.fx_dated.severity": "fatal",
            "checks.set_aside_share.critical.max": "lots",
            "checks.fx_change.warning": {"min": 2, "max": 1},
            "checks.score_chnage": {"warning": {"max": 1}},
        },
    )
    with pytest.raises(ConfigError) as error:
        load_quality(path)
    text = str(error.value)
    for key in (
        "checks.fx_dated.severity",
        "checks.set_aside_share.critical.max",
        "checks.fx_change.warning",
        "checks.score_chnage",
    ):
        assert f"{path}: {key}" in text, text


def test_a_bad_province_override_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"provinces.XX": {"foreign_share": {"warning": {"max": 1}}},
         "provinces.ZJ": {"foreign_share": {"critical": {"max": "x"}}}},
    )  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_quality(path)
    text = str(error.value)
    assert f"{path}: provinces.XX: not a province of provinces.yaml" in text
    assert f"{path}: provinces.ZJ.foreign_share.critical.max" in text


def test_a_currency_without_a_band_is_named(tmp_path: Path) -> None:
    data = yaml.safe_load((config_dir() / "quality.yaml").read_text(encoding="utf-8"))
    del data["fx_bands"]["NOK"]
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"fx_bands: no band for NOK"):
        load_quality(path)
