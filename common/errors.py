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
