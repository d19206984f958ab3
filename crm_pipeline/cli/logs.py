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
from crm_pipeline.progress import event_of

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


# -q, (none), -v, -vv: what the console shows besides the summary.
CONSOLE_LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def console_level(verbosity: int) -> int:
    """The console's level for a verbosity (-1 quiet ... 2 and more: debug)."""
    return CONSOLE_LEVELS[max(-1, min(2, verbosity))]


class _NotProgress(logging.Filter):
    """Progress events are for the live display and the file, not plain console lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return event_of(record) is None


def setup_logging(verbosity: int = 0, console: logging.Handler | None = None) -> Path:
    """The console (warnings and errors by default, see `CONSOLE_LEVELS`; never a
    traceback), or the given `console` handler (the live display), and the log file (every
    record at DEBUG, appended); the log file's path. Calling it again replaces what it
    installed."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
        handler.close()
    _installed.clear()
    if console is None:
        console = logging.StreamHandler()
        console.setLevel(console_level(verbosity))
        console.setFormatter(_NoTraceback(_FORMAT))
        console.addFilter(_NotProgress())
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
