"""config/quality.yaml, typed and validated at load time (every problem at once, each with
the file and its key, as common.config does for the other files).

Bands are exact decimals: a share, a rate or a change is compared with them exactly (the
metrics are Decimals too; see crm_pipeline.quality.metrics).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common import config as cfg
from common.errors import ConfigError
from common.paths import config_dir

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """Inclusive bounds; either may be left open."""

    min: Decimal | None = None
    max: Decimal | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is None and self.max is None:
            raise ValueError("a band needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class BandCheck(_Strict):
    """A metric with a warning band and/or a critical band."""

    warning: Band | None = None
    critical: Band | None = None

    def bands(self) -> list[tuple[Severity, Band]]:
        levels: list[tuple[Severity, Band | None]] = [
            ("critical", self.critical),
            ("warning", self.warning),
        ]
        return [(s, b) for s, b in levels if b is not None]


class FileShareCheck(BandCheck):
    min_records: int = Field(default=0, ge=0)


class TypeChangeCheck(BandCheck):
    """A change per customer type, compared only where the previous date had at least
    `min_qualified` qualified customers of the type (a handful of customers swing it)."""

    min_qualified: int = Field(default=0, ge=0)


class FlagCheck(_Strict):
    """A yes/no expectation: how bad its failure is (`off`: not checked)."""

    severity: Literal["critical", "warning", "off"] = "critical"


class Checks(_Strict):
    set_aside_share: FileShareCheck
    records_change: BandCheck
    fx_present: FlagCheck
    fx_positive: FlagCheck
    fx_dated: FlagCheck
    fx_unique: FlagCheck
    fx_band: FlagCheck
    fx_change: BandCheck
    qualified_change: TypeChangeCheck
    score_change: TypeChangeCheck
    foreign_share: BandCheck
    # The layouts' declarations on the staged kept records (quality/layout_metrics.py).
    layout_types: FlagCheck
    layout_codes: FlagCheck
    layout_required: FlagCheck
    layout_unique: FlagCheck


class QualityConfig(_Strict):
    checks: Checks
    fx_bands: dict[str, Band]
    provinces: dict[str, dict[str, dict[str, Any]]] = {}
    # Filled by the loader: each configured province's checks with its overrides applied.
    merged: dict[str, Checks] = Field(default={}, exclude=True)

    def for_province(self, province: str) -> Checks:
        """The checks of `province`: the defaults with its overrides."""
        return self.merged.get(province, self.checks)

    def fx_band(self, currency: str) -> Band | None:
        return self.fx_bands.get(currency)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _merged_checks(path: Path, config: QualityConfig, raw: dict[str, Any]) -> dict[str, Checks]:
    """Each province's checks; an unknown province or a bad override is a ConfigError
    naming `provinces.<P>.<key>`, a currency without a band one naming `fx_bands`."""
    known = cfg.provinces().provinces
    problems = [
        f"{path}: fx_bands: no band for {code} (a currency of layouts.yaml's code set)"
        for code in cfg.layouts().code_values("currency")
        if code not in config.fx_bands
    ]
    merged: dict[str, Checks] = {}
    base = raw.get("checks") or {}
    for province, override in config.provinces.items():
        if province not in known:
            problems.append(f"{path}: provinces.{province}: not a province of provinces.yaml")
            continue
        try:
            merged[province] = Checks.model_validate(_merge(base, override or {}))
        except ValidationError as exc:
            problems.extend(
                f"{path}: provinces.{province}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
    if problems:
        raise ConfigError(problems)
    return merged


def load_quality(path: Path) -> QualityConfig:
    """Read and validate one quality file (a problem: ConfigError with file and key)."""
    config = cfg.load_model(QualityConfig, path)
    raw = cfg.read_yaml(path) or {}
    return config.model_copy(update={"merged": _merged_checks(path, config, raw)})


@cache
def quality(directory: Path | None = None) -> QualityConfig:
    return load_quality((directory or config_dir()) / "quality.yaml")
