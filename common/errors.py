"""Exceptions that carry their context, so a message at 2 a.m. says where to look."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """A configuration file is invalid. Lists every problem at once, each naming file and key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class FileRejected(PipelineError):
    """A whole data file cannot be loaded (missing flag, size/count/control-sum mismatch)."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An error as one console line: its type and the first line of its message, cut at
    `limit` characters (a database driver's message can run to pages)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


class QualityHeld(PipelineError):
    """The data-quality gate found a critical problem: the province's batch is held, not
    published (crm_pipeline.quality); the run's state and the province's status say `held`."""
