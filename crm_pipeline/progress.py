"""Progress events: a province's run and its steps as they start and end.

They are log records of the logger `crm_pipeline.progress`, carrying a `crm_progress` dict
(province, step, state), so that whoever shows progress (the command line's live display,
`crm_pipeline.cli.console`) reads the same stream the log file keeps, and the runs need no
knowledge of a terminal. States: a province is `started`, then its summary's status; a step
is `started`, `skipped` (its outputs intact from an earlier run), `done` or `failed`.
"""

from __future__ import annotations

import logging
from typing import Any

PROGRESS = logging.getLogger("crm_pipeline.progress")
KEY = "crm_progress"


def province_event(province: str, state: str) -> None:
    """The province's run `started`, or ended with its summary's status."""
    PROGRESS.info("%s: %s", province, state, extra={KEY: {"province": province, "state": state}})


def step_event(province: str, step: str, state: str) -> None:
    """One of the province's steps `started`, `skipped`, `done` or `failed`."""
    PROGRESS.info(
        "%s: step %s %s", province, step, state,
        extra={KEY: {"province": province, "step": step, "state": state}},
    )  # fmt: skip


def event_of(record: logging.LogRecord) -> dict[str, Any] | None:
    """The progress event a log record carries, if it is one."""
    value = getattr(record, KEY, None)
    return value if isinstance(value, dict) else None
