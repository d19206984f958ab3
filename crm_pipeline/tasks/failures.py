"""How a failed task is told to an operator: which province, at which step, and why.

Light on purpose (no stage is imported): the DAGs' failure callback builds its report
from these, and the report must be sent even when the pipeline itself cannot be imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import PipelineError


class ProvinceFailed(PipelineError):
    """One province could not be published: which province, at which step, and why."""

    def __init__(self, province: str, step: str, reason: str, *, retryable: bool = False) -> None:
        self.province = province
        self.step = step
        self.reason = reason
        self.retryable = retryable
        super().__init__(f"{province}: {step} failed: {reason}")


@dataclass(frozen=True)
class FailureReport:
    """The three things an operator needs from a failure at 2 a.m."""

    dag_id: str
    run_id: str
    task_id: str
    province: str
    step: str
    reason: str

    def line(self) -> str:
        return (
            f"CRM FAILURE {self.dag_id} {self.run_id}: province {self.province}, "
            f"step {self.step}: {self.reason}"
        )


#: The step an operator reads for a task that is not a province's load (which names its own).
STEP_OF_TASK = {
    "wait_for_files": "wait for files (.ok flags) and the previous date",
    "wait_for_fx_rates": "wait for FX rates (.ok flag)",
    "stage_fx_rates": "fx rates",
    "plan": "plan the run",
}


def redact_text(text: str) -> str:
    """Drop anything that looks like a password in a URL before it leaves the machine."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
