"""The `crm-pipeline` command: one module per subcommand, each with `register(subparsers)`.

Exit status: 0 all well, 1 a usage or configuration error, 3 some provinces failed while
others were loaded (the summary says which).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from common.errors import PipelineError

# Subcommand modules, in the order `--help` lists them.
_COMMANDS = ("sample", "sample_daily", "run", "status", "db", "formula", "statement")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"crm_pipeline.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except PipelineError as exc:
        print(f"crm-pipeline: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
