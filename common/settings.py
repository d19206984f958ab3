"""Where the pipeline reads, stages and writes: ONE precedence chain for every such setting.

A value given by the caller (a command-line option, a DAG parameter) wins; else the
environment variable; else `config/pipeline.yaml`. Every place that needs the landing folder,
the staging area, the warehouse URL or the source kind asks here, so the three can never be
combined in another order somewhere else (dlt's configuration providers, in small).
"""

from __future__ import annotations

import os
from pathlib import Path

from common import config
from common.errors import ConfigError, PipelineError
from common.paths import project_path
from common.store import is_url

LANDING_ENV = "CRM_LANDING_DIR"
STAGING_ENV = "CRM_STAGING_DIR"
WAREHOUSE_ENV = "CRM_WAREHOUSE_URL"
SOURCE_ENV = "CRM_SOURCE"
EXPORT_ENV = "CRM_EXPORT_DIR"


def resolved(given: str | Path | None, env: str, configured: str) -> str:
    """`given` if set, else the environment variable `env` if set, else `configured`."""
    if given not in (None, ""):
        return str(given)
    return os.environ.get(env) or configured


def folder(given: str | Path | None, env: str, configured: str) -> Path:
    """`resolved` as a folder: a relative path given on the command line or in the
    environment is the operator's, so it is taken from the current directory; one in
    config/pipeline.yaml is the project's, taken from the project's root."""
    if given not in (None, ""):
        return Path(str(given)).expanduser().absolute()
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser().absolute()
    return project_path(configured)


def landing_dir(given: str | Path | None = None) -> Path:
    """The landing folder (the local landing, or the mirror the SFTP fetcher fills)."""
    return folder(given, LANDING_ENV, config.settings().landing_dir)


def staging_url(given: str | Path | None = None) -> str:
    """The staging area: an object store's URL as given (`s3://bucket/prefix`, common.store),
    else the absolute local folder, by the same precedence (`folder`)."""
    value = resolved(given, STAGING_ENV, config.settings().staging_dir)
    if is_url(str(value)):
        return str(value)
    return str(folder(given, STAGING_ENV, config.settings().staging_dir))


def staging_dir(given: str | Path | None = None) -> Path:
    """The root of the staging area, for the commands that read a local folder only."""
    value = staging_url(given)
    if is_url(value):
        raise PipelineError(
            f"staging {value}: this command reads a local staging folder; give --staging FOLDER"
        )
    return Path(value)


def warehouse_url(given: str | None = None) -> str:
    """The warehouse's SQLAlchemy URL (may hold a password: never print it as it is)."""
    return resolved(given, WAREHOUSE_ENV, config.settings().warehouse_url)


def source_kind(given: str | None = None) -> str:
    """Where the dumps come from: `local` (the landing folder) or `sftp`."""
    kind = resolved(given, SOURCE_ENV, config.settings().source.kind)
    if kind not in ("local", "sftp"):
        raise ConfigError([f"{SOURCE_ENV} / source.kind: {kind!r} is not local or sftp"])
    return kind


def export_dir(given: str | Path | None = None) -> Path:
    """The folder `crm-pipeline export` writes a batch's files under ({D}/{P}/)."""
    return project_path(resolved(given, EXPORT_ENV, config.settings().export.dir))
