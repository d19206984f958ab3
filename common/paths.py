"""Where the project's own files are, whatever the working directory."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    return Path(os.environ.get("CRM_CONFIG_DIR", PROJECT_ROOT / "config"))


def formulas_dir() -> Path:
    return Path(os.environ.get("CRM_FORMULAS_DIR", PROJECT_ROOT / "scoring_formulas"))


def project_path(value: str | Path) -> Path:
    """A configured path: absolute as given, relative to the project root otherwise."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
