"""What a person at a terminal sees while `crm-pipeline run` works: one line per province
with the step it is at, the steps done and the time, redrawn in place (rich's Live), the
warnings and errors above it, and the summary table when it ends. The detail is in the log
file (`crm_pipeline.cli.logs`), whose path the command prints.

The display is fed by the progress events of `crm_pipeline.progress` (log records), so it
shows what the log file records, nothing the runs would have to know about a terminal. It
is used only on a terminal: piped or captured output gets plain lines instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crm_pipeline.progress import event_of

_DONE = {"published", "already published", "failed", "held", "stopped"}


@dataclass
class _Row:
    state: str = "waiting"
    step: str = ""
    steps_done: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None


class LiveProgress(logging.Handler):
    """A logging handler: progress events redraw the table, other records at its level are
    printed above it (without tracebacks, which stay in the log file)."""

    def __init__(self, level: int, console: Console | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self.shown = level
        self.console = console or Console(stderr=True)
        self.rows: dict[str, _Row] = {}
        # transient: once the run ends the summary table stands alone at the end
        self.live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.update(self._table(), refresh=True)
        self.live.stop()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = event_of(record)
            if event is not None:
                self._apply(event)
                self.live.update(self._table())
            elif record.levelno >= self.shown:
                self.console.print(
                    f"{record.levelname} {record.name}: {record.getMessage()}",
                    markup=False, highlight=False, soft_wrap=True,
                )  # fmt: skip
        except Exception:  # noqa: BLE001 - a display must never stop a run
            self.handleError(record)

    def _apply(self, event: dict[str, str]) -> None:
        row = self.rows.setdefault(event["province"], _Row())
        state, step = event["state"], event.get("step")
        if step is None:
            row.state = state
            if state == "started":
                row.started, row.ended = time.monotonic(), None
            elif state in _DONE:  # the step a province failed at stays shown
                row.ended = time.monotonic()
                row.step = row.step if row.step.endswith(" failed") else ""
            return
        row.step = step if state == "started" else row.step
        if state in ("done", "skipped") and step not in row.steps_done:
            row.steps_done.append(step + (" (kept)" if state == "skipped" else ""))
            row.step = ""
        if state == "failed":
            row.step = f"{step} failed"

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("province", "state", "step", "steps done", "time"):
            table.add_column(name, justify="right" if name == "time" else "left")
        for province, row in self.rows.items():
            end = row.ended if row.ended is not None else time.monotonic()
            table.add_row(
                province, row.state, row.step, ", ".join(row.steps_done),
                f"{end - row.started:5.1f} s",
            )  # fmt: skip
        return table
