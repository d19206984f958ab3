"""What every subcommand shares: the `--province` option, the exit status of a run of
several provinces (documented in `crm_pipeline/cli/__init__.py`), and opening the warehouse
a read-only command reports on."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from common import settings
from common.errors import PipelineError
from load.warehouse import Warehouse

EXIT_SOME_FAILED = 3


class HasStatus(Protocol):
    @property
    def status(self) -> str: ...


def add_province_option(parser: argparse.ArgumentParser, default_help: str) -> None:
    """`--province P` (repeatable, or comma-separated); `default_help` says what none means."""
    parser.add_argument(
        "--province",
        action="append",
        default=None,
        help=f"province (repeatable, or comma-separated); default: {default_help}",
    )


def provinces_of(args: argparse.Namespace) -> list[str]:
    """The provinces named by `--province`, in order; empty when none was."""
    return [p for item in args.province or [] for p in item.split(",") if p]


def exit_status(summaries: Sequence[HasStatus]) -> int:
    """0 when every province went well, EXIT_SOME_FAILED when one of them failed or was
    held by the quality gate (not published either way)."""
    return EXIT_SOME_FAILED if any(s.status in ("failed", "held") for s in summaries) else 0


@contextmanager
def migrated_warehouse(url: str | None) -> Iterator[Warehouse]:
    """The warehouse at `url` (default: configuration), refused in one line when it has no
    schema: a report on an empty database would otherwise say "nothing ran", which is not
    what happened (the operator named the wrong warehouse or never ran `db upgrade`)."""
    warehouse = Warehouse(settings.warehouse_url(url))
    try:
        if warehouse.revision() is None:
            raise PipelineError(f"{warehouse!r}: no schema; run `crm-pipeline db upgrade`")
        yield warehouse
    finally:
        warehouse.dispose()
