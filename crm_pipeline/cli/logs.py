"""Where the command line's log goes: one line per event on the console, everything (debug
lines and tracebacks included) in a log file whose path the console names.

An operator at 2 a.m. reads the console; a traceback there hides the one line that says
which province failed and why. The file keeps the detail for whoever debugs it later.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common.paths import project_path

LOG_FILE_ENV = "CRM_LOG_FILE"
DEFAULT_LOG_FILE = "var/log/crm-pipeline.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_installed: list[logging.Handler] = []


class _NoTraceback(logging.Formatter):
    """The message of a record without its traceback (which goes to the file only)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def log_file() -> Path:
    return project_path(os.environ.get(LOG_FILE_ENV) or DEFAULT_LOG_FILE)


def setup_logging(verbose: bool = False) -> Path:
    """Console (INFO, or DEBUG with `verbose`; never a traceback) and the log file (DEBUG,
    appended); the log file's path. Calling it again replaces what it installed."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(_NoTraceback(_FORMAT))
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    detail = logging.FileHandler(path, encoding="utf-8")
    detail.setLevel(logging.DEBUG)
    detail.setFormatter(logging.Formatter(_FORMAT))
    for handler in (console, detail):
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(logging.DEBUG)
    return path
