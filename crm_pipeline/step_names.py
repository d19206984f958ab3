"""The steps of a province's run, per mode, and the tasks an operator sees for them.

One place for both lists, because the DAGs build a province's tasks from them and the run
checks a stop point against them: a new step (such as the quality gate of issue 17, between
`score` and `load` / `apply` and `load`) is one entry in `RUN_STEPS` and one in
`STEP_TASKS`, and the grid gains its task. Light (only `common.errors`): the DAG files
read it while they are parsed.
"""

from __future__ import annotations

from common.errors import PipelineError

#: The restart ledger's steps, in the order a run does them. `state` (the snapshot the next
#: daily run starts from) is written beside `load` in the initial mode; in the daily mode
#: `apply` writes it. When a step is done afresh, the entries of the steps after it are
#: dropped (they were built from its old outputs): `crm_pipeline.steps`.
RUN_STEPS: dict[str, tuple[str, ...]] = {
    "initial": ("ingest", "conform", "merge", "score", "quality_gate", "state", "load"),
    "daily": ("ingest", "apply", "quality_gate", "load", "transactions"),
}

#: A province's step tasks after `fetch`, in order: (task id, the last step it runs). Each
#: runs its run up to and including that step; the ledger skips the steps already done,
#: so task k does step k, and clearing a failed task resumes the run there.
STEP_TASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "initial": (
        ("ingest", "ingest"),
        ("conform", "conform"),
        ("merge", "merge"),
        ("score", "score"),
        ("quality_gate", "quality_gate"),
        ("publish", "load"),
    ),
    "daily": (
        ("ingest", "ingest"),
        ("apply", "apply"),
        ("quality_gate", "quality_gate"),
        ("publish", "load"),
        ("transactions", "transactions"),
    ),
}


def stop_points(mode: str) -> tuple[str, ...]:
    """The steps a run of `mode` can stop after: the last steps of its step tasks."""
    if mode not in STEP_TASKS:
        raise PipelineError(f"mode {mode!r}: expected {' or '.join(STEP_TASKS)}")
    return tuple(step for _, step in STEP_TASKS[mode])


def check_stop(mode: str, stop_after: str | None) -> None:
    """A stop point must be one of the mode's: PipelineError naming them otherwise."""
    points = stop_points(mode)
    if stop_after is not None and stop_after not in points:
        raise PipelineError(
            f"step {stop_after!r} is not a stop point of the {mode} load: "
            f"expected one of {', '.join(points)}"
        )


def step_of_task(mode: str, task_id: str) -> str:
    """The last step the task `task_id` of a mode's province group runs."""
    for task, step in STEP_TASKS[mode]:
        if task == task_id:
            return step
    raise PipelineError(
        f"task {task_id!r} is not a step task of the {mode} load: "
        f"expected one of {', '.join(t for t, _ in STEP_TASKS[mode])}"
    )


def is_first_task(mode: str, task_id: str) -> bool:
    """Whether `task_id` starts the mode's steps (a forced reload redoes from there)."""
    return STEP_TASKS[mode][0][0] == task_id
