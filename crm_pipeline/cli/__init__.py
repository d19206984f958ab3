"""The `crm-pipeline` command: one module per subcommand, each with `register(subparsers)`.

Exit status: 0 all well, 1 a usage or configuration error, 3 some provinces failed (or were
held by the quality gate) while others were loaded (the summary says which).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Sequence

from common.errors import PipelineError, one_line
from crm_pipeline.cli.console import LiveProgress
from crm_pipeline.cli.logs import console_level, setup_logging

log = logging.getLogger(__name__)

# Commands that show the live progress display on a terminal.
_LIVE = ("run",)
# Subcommand modules, in the order `--help` lists them.
_COMMANDS = (
    "sample",
    "sample_daily",
    "run",
    "status",
    "db",
    "formula",
    "statement",
    "explain",
    "export",
    "quality",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-pipeline", description=__doc__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more on the console: -v every info line, -vv debug (the log file has it all)",
    )  # fmt: skip
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="only errors and the summary on the console"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"crm_pipeline.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = -1 if args.quiet else args.verbose
    # A terminal watching a run gets the live display of its provinces and steps.
    live = (
        LiveProgress(console_level(verbosity))
        if args.command in _LIVE and verbosity >= 0 and sys.stderr.isatty()
        else None
    )
    try:
        log_path = setup_logging(verbosity, live)
    except OSError as exc:
        print(f"crm-pipeline: cannot write the log file: {exc}", file=sys.stderr)
        return 1
    try:
        with live if live is not None else contextlib.nullcontext():
            return int(args.handler(args))
    except PipelineError as exc:
        print(f"crm-pipeline: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # containment: one line here, the traceback in the log file
        log.debug("unexpected error", exc_info=True)
        print(f"crm-pipeline: unexpected error: {one_line(exc)} (details in {log_path})",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())
